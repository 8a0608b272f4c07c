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
_FORM_FIELDS: dict[str, Any] = {
    name: {key: value for key, value in schema.items() if key not in ("default", "title")}
    for name, schema in SummarizeRequest.model_json_schema()["properties"].items()
    if name != "text"
}
_UPLOAD_FORM: dict[str, Any] = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "format": "binary",
            "description": "The document: PDF, DOCX, HTML, Markdown, plain text or e-mail (.eml), known by content.",
        },
        **_FORM_FIELDS,
    },
}
# Declared by hand: the route reads JSON or a multipart upload itself (SummarizeServing.read).
_SUMMARIZE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/SummarizeRequest"}},
            "multipart/form-data": {"schema": _UPLOAD_FORM},
        },
    }
}


@router.post(
    "/summarize",
    response_model=SummarizeResponse,
    responses={**_ERRORS, **_STREAM},
    openapi_extra=_SUMMARIZE_BODY,
)
async def summarize(
    request: Request, serving: SummarizeServingDep, caller: CallerDep
) -> SummarizeResponse | EventSourceResponse:
    """Summarize one document, sent as JSON `text` or as a file (multipart: PDF, DOCX, HTML, Markdown, plain
    text, e-mail); with `stream: true`, as server-sent events."""
    body, source = await serving.read(request)
    if body.stream:
        return await serving.stream(body, caller, getattr(request.state, "request_id", None), source)
    return await serving.summarize(body, caller, source)


@router.post("/summarize/batch", response_model=BatchResponse, responses=_ERRORS)
async def summarize_batch(body: BatchRequest, serving: SummarizeServingDep, caller: CallerDep) -> BatchResponse:
    """Summarize several documents; results come back in input order, one failure per document."""
    return await serving.summarize_batch(body, caller)
