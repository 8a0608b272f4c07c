"""POST /v1/ground: check any summary against its source, whoever wrote it (models.grounding)."""

from __future__ import annotations

from fastapi import APIRouter

from service.auth.gate import CallerDep
from service.features.body import JsonBodyRoute
from service.features.ground.protocol import GroundingOut, GroundRequest
from service.features.ground.serving import GroundServingDep
from service.features.protocol import error_responses

router = APIRouter(prefix="/v1", tags=["ground"], route_class=JsonBodyRoute)


@router.post("/ground", response_model=GroundingOut, responses=error_responses(413, 415, 422, 429))
async def ground_summary(body: GroundRequest, serving: GroundServingDep, caller: CallerDep) -> GroundingOut:
    """Evidence in `text` for each sentence of `summary`, what `text` does not support, and a consistency score.

    Offsets of `support` are ranges of `text`; a sentence's and an unsupported span's are ranges of `summary`.
    """
    return await serving.ground(body, caller)
