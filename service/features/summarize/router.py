"""POST /v1/summarize and /v1/summarize/batch: thin; ``SummarizeServing`` does the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse

from service.auth.gate import CallerDep
from service.features.body import JsonBodyRoute
from service.features.protocol import error_responses
from service.features.summarize.protocol import BatchRequest, BatchResponse, SummarizeRequest, SummarizeResponse
from service.features.summarize.serving import SummarizeServingDep

router = APIRouter(prefix="/v1", tags=["summarize"], route_class=JsonBodyRoute)

_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"description": "stream: true"}}}}
_ERRORS = error_responses(404, 413, 415, 422, 429, 503)


@router.post("/summarize", response_model=SummarizeResponse, responses={**_ERRORS, **_STREAM})
async def summarize(
    body: SummarizeRequest, request: Request, serving: SummarizeServingDep, caller: CallerDep
) -> SummarizeResponse | EventSourceResponse:
    """Summarize one document; with `stream: true`, as server-sent events."""
    if body.stream:
        return await serving.stream(body, caller, getattr(request.state, "request_id", None))
    return await serving.summarize(body, caller)


@router.post("/summarize/batch", response_model=BatchResponse, responses=_ERRORS)
async def summarize_batch(body: BatchRequest, serving: SummarizeServingDep, caller: CallerDep) -> BatchResponse:
    """Summarize several documents; results come back in input order, one failure per document."""
    return await serving.summarize_batch(body, caller)
