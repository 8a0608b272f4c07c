"""GET /health (the process answers) and GET /ready (the default model is loaded)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from service.errors import error_response
from service.features.models.serving import ModelsServingDep
from service.features.protocol import error_responses

router = APIRouter(tags=["health"])


@router.get("/health", responses=error_responses())
async def health() -> dict[str, str]:
    return {"status": "ok"}


_NOT_READY = error_responses(503, s503="The default model is not loaded yet (not_ready)")


@router.get("/ready", response_model=None, responses=_NOT_READY)
async def ready(request: Request, models: ModelsServingDep) -> dict[str, str] | JSONResponse:
    readiness = await asyncio.to_thread(models.readiness)  # a remote default model's server is asked
    if readiness.ready:
        return {"status": "ready", "model": readiness.model}
    return error_response(request, 503, "not_ready", readiness.message)
