"""What every feature's protocol shares: strict request bodies, and the error envelope as the
OpenAPI document declares it on each route."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

# What the server refuses, said in the schema too: a document needs a character other than white space.
NOT_BLANK: JsonDict = {"minLength": 1, "pattern": r"\S"}
# Said of every range of a summarized file (sentences, chunks, evidence).
PAGES = "An uploaded PDF's pages (from 1) this range covers; absent for other inputs."


class StrictModel(BaseModel):
    """A request body: unknown fields are refused, and types are strict (`true` is not 1 and "yes" is
    not a boolean: 422 invalid_request)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ErrorObject(BaseModel):
    code: str = Field(description="One of the codes listed in the README; some carry extra fields.")
    message: str
    param: str | None = Field(description="The request field, header or parameter at fault, if one is.")


class ErrorResponse(BaseModel):
    """The body of every error response."""

    error: ErrorObject
    request_id: str | None = Field(description="Also in the X-Request-ID header.")


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "integer"}}}
_DEFAULTS = {
    401: "No API key, or an unknown one (missing_api_key, invalid_api_key)",
    404: "Unknown model (model_not_found)",
    413: "Body over the size limit (body_too_large) or a document over the character limit (document_too_large)",
    415: "The body is not declared application/json (unsupported_media_type)",
    422: "Invalid JSON, request or option (see the README's codes)",
    429: "The model's queue is full (overloaded), or one of the key's limits is used up (rate_limited, "
    "quota_exceeded; with the RateLimit fields); retry after Retry-After seconds",
    503: "The model cannot be loaded (model_unavailable)",
}


def error_responses(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """The error responses a route declares in the OpenAPI document, every one in the error envelope:
    ``statuses`` with their usual descriptions (``described``: ``s404="..."`` replaces one), and
    ``default``: any other error (431, 500, ...), in the same envelope."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        description = described.get(f"s{status}", _DEFAULTS.get(status, "Error"))
        responses[status] = {"model": ErrorResponse, "description": description}
        if status == 429:
            responses[status]["headers"] = _RETRY_AFTER
    responses["default"] = {"model": ErrorResponse, "description": "Any other error, in the same envelope"}
    return responses
