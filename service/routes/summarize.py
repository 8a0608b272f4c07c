"""POST /v1/summarize and /v1/summarize/batch: thin; the handler does the work."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.sse import EventSourceResponse

from service.handlers.summarize import SummarizeHandler
from service.routes.body import JsonBodyRoute
from service.routes.responses import error_responses
from service.schemas import BatchRequest, BatchResponse, SummarizeRequest, SummarizeResponse

router = APIRouter(prefix="/v1", tags=["summarize"], route_class=JsonBodyRoute)

_STREAM: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {"description": "stream: true"}}}}
_ERRORS = error_responses(404, 413, 415, 422, 429, 503)


def _handler(request: Request) -> SummarizeHandler:
    handler: SummarizeHandler = request.app.state.summarize_handler
    return handler


@router.post("/summarize", response_model=SummarizeResponse, responses={**_ERRORS, **_STREAM})
async def summarize(body: SummarizeRequest, request: Request) -> SummarizeResponse | EventSourceResponse:
    """Summarize one document; with `stream: true`, as server-sent events."""
    if body.stream:
        return await _handler(request).stream(body, getattr(request.state, "request_id", None))
    return await _handler(request).summarize(body)


@router.post("/summarize/batch", response_model=BatchResponse, responses=_ERRORS)
async def summarize_batch(body: BatchRequest, request: Request) -> BatchResponse:
    """Summarize several documents; results come back in input order, one failure per document."""
    return await _handler(request).summarize_batch(body)
