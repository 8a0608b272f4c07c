"""GET /v1/models: the catalog and each model's state."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter

from service.features.models.protocol import ModelList
from service.features.models.serving import ModelsServingDep
from service.features.protocol import error_responses

router = APIRouter(prefix="/v1", tags=["models"])


@router.get("/models", response_model=ModelList, responses=error_responses())
async def list_models(serving: ModelsServingDep) -> ModelList:
    """Every catalog model: whether it is loaded, or why it cannot be."""
    return await asyncio.to_thread(serving.list_models)  # remote models' servers are asked
