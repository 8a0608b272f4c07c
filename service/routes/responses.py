"""The error responses routes declare in the OpenAPI document: every one in the error envelope."""

from __future__ import annotations

from typing import Any

from service.schemas import ErrorResponse

_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_DEFAULTS = {
    404: "Unknown model (model_not_found)",
    413: "Body over the size limit (body_too_large) or a document over the character limit (document_too_large)",
    415: "The body is not declared application/json (unsupported_media_type)",
    422: "Invalid JSON, request or option (see the README's codes)",
    429: "The model's queue is full (overloaded); retry after Retry-After seconds",
    503: "The model cannot be loaded (model_unavailable)",
}


def error_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """``statuses`` with their usual descriptions (``described``: ``s404="..."`` replaces one), and
    ``default``: any other error (431, 500, ...), in the same envelope."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = described.get(f"s{status}", _DEFAULTS.get(status, "Error"))
        responses[status] = {"model": ErrorResponse, "description": description}
        if status == 429:
            responses[status]["headers"] = _RETRY_AFTER
    responses["default"] = {"model": ErrorResponse, "description": "Any other error, in the same envelope"}
    return responses
