"""GET /v1/models: the catalog and each model's state."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from service.routes.responses import error_responses

router = APIRouter(prefix="/v1", tags=["models"])


class ModelInfo(BaseModel):
    name: str
    kind: str
    source: str
    loaded: bool
    available: bool
    reason: str | None
    max_input_tokens: int | None
    default: bool
    accelerated: bool | None = Field(
        None, description="Loaded models: whether every speed path meant for this model runs (checked at load)."
    )
    acceleration: str | None = Field(
        None, description="Loaded models that are not accelerated: why (a speed path that did not engage, or none)."
    )


class ModelList(BaseModel):
    models: list[ModelInfo]


@router.get("/models", response_model=ModelList, responses=error_responses())
async def list_models(request: Request) -> ModelList:
    """Every catalog model: whether it is loaded, or why it cannot be."""
    registry = request.app.state.engine.registry
    default = request.app.state.settings.default_model
    infos = []
    for name in registry.names:
        status = registry.status(name)
        infos.append(
            ModelInfo(
                name=name,
                kind=status.kind,
                source=status.source,
                loaded=status.state == "loaded",
                available=status.available,
                reason=status.reason,
                max_input_tokens=status.max_input_tokens,
                default=name == default,
                accelerated=status.accelerated,
                acceleration=status.acceleration,
            )
        )
    return ModelList(models=infos)
