"""GET /health (the process answers) and GET /ready (the default model is loaded)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.errors import error_response
from service.routes.responses import error_responses

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses())
async def health() -> dict[str, str]:
    return {"status": "ok"}


_NOT_READY = error_responses(503, s503="The default model is not loaded yet (not_ready)")


@router.get("/ready", response_model=None, responses=_NOT_READY)
async def ready(request: Request) -> dict[str, str] | JSONResponse:
    registry = request.app.state.engine.registry
    default = request.app.state.settings.default_model
    status = registry.status(default)
    if status.state == "loaded":
        return {"status": "ready", "model": default}
    message = f"default model {default!r} is {status.state.replace('_', ' ')}"
    if status.reason:
        message += f": {status.reason}"
    return error_response(request, 503, "not_ready", message)
