"""One error shape for every non-2xx answer, and the exceptions that produce it.

Every error body is ``{"error": {"code", "message", "param"}, "request_id"}``;
the framework's own 404, 405 and 422 are rewritten into it, and nothing ever
answers with a stack trace. ``ERROR_CODES`` is the one table of codes and their
statuses; the README lists exactly these (``tests/test_readme.py``).

ServiceError (status, code)          raised by handlers and the engine
├── InvalidRequest        422  invalid_request, invalid_json, empty_document, duplicate_id, too_many_documents,
│                              invalid_documents (its error object lists the bad lines), idempotency_key_reused, ...
├── Unauthorized          401  missing_api_key, invalid_api_key; sent with WWW-Authenticate: Bearer
├── Forbidden             403  origin_not_allowed: a browser write from an origin not in DOCSUM_CORS_ORIGINS
├── NotFound              404  job_not_found (also a job past its retention, or another caller's)
├── PayloadTooLarge       413  body_too_large, document_too_large
├── UnsupportedMediaType  415  unsupported_media_type
├── Overloaded            429  overloaded: the model's queue is full; sent with Retry-After
│   └── LimitExceeded     429  rate_limited, quota_exceeded: a key's limit (service.auth.limits); also RateLimit fields
└── ShuttingDown          503  shutting_down: the engine is closed (the process is stopping)

The model library's exceptions (``models.errors``) carry their own codes; this table gives
them their statuses: UnknownModel 404 model_not_found · ModelUnavailable 503 model_unavailable ·
ModelNotLoadable 403 model_not_loadable · ModelsBusy 503 models_busy ·
InvalidOption 422 invalid_request · UnsupportedOption 422 unsupported_option · InvalidInput 422
invalid_input · InputTooLong 422 input_too_long, whose error object also carries ``input_tokens``
and ``max_input_tokens`` · TooManyChunks 422 too_many_chunks (``chunks``, ``max_chunks``) ·
TooManySentences 422 too_many_sentences (``sentences``, ``max_sentences``) · UpstreamUnavailable 503
upstream_unavailable · UpstreamError 502 upstream_error (a remote model's server, ``models.upstream``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import ModelError
from service.request_context import note_error


class ServiceError(Exception):
    status = 500
    code = "internal_error"
    headers: Mapping[str, str] | None = None  # sent with the error response

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.details = details
        if code is not None:
            self.code = code


class InvalidRequest(ServiceError):
    status = 422
    code = "invalid_request"


class Unauthorized(ServiceError):
    """No key, or not a key this server knows."""

    status = 401
    code = "invalid_api_key"
    headers = {"WWW-Authenticate": 'Bearer realm="docsum"'}  # noqa: RUF012 (read only)


class Forbidden(ServiceError):
    status = 403
    code = "origin_not_allowed"


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class UnsupportedMediaType(ServiceError):
    status = 415
    code = "unsupported_media_type"


class PayloadTooLarge(ServiceError):
    status = 413
    code = "payload_too_large"


class Overloaded(ServiceError):
    """The model's queue is full; the client should come back after ``retry_after`` seconds."""

    status = 429
    code = "overloaded"

    def __init__(self, message: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


class LimitExceeded(Overloaded):
    """One of the caller's limits or quotas is used up; ``counts`` say how it stands (``RateLimit`` fields)."""

    code = "rate_limited"

    def __init__(self, message: str, *, code: str, retry_after: int, counts: Sequence[Any] = ()) -> None:
        super().__init__(message, retry_after=retry_after, code=code)
        self.counts = list(counts)


class ShuttingDown(ServiceError):
    """The engine is closed: the process is shutting down, and the caller should retry on another replica."""

    status = 503
    code = "shutting_down"


# Every code an error response can carry, with its status.
ERROR_CODES: dict[str, int] = {
    "bad_request": 400,
    "missing_api_key": 401,
    "invalid_api_key": 401,
    "origin_not_allowed": 403,
    "model_not_loadable": 403,
    "model_not_found": 404,
    "job_not_found": 404,
    "not_found": 404,
    "method_not_allowed": 405,
    "not_acceptable": 406,
    "request_timeout": 408,
    "document_too_large": 413,
    "body_too_large": 413,
    "too_many_pages": 413,
    "archive_too_large": 413,
    "unsupported_media_type": 415,
    "unsupported_file_type": 415,
    "invalid_request": 422,
    "invalid_json": 422,
    "empty_document": 422,
    "unsupported_option": 422,
    "input_too_long": 422,
    "too_many_chunks": 422,
    "too_many_sentences": 422,
    "invalid_input": 422,
    "duplicate_id": 422,
    "too_many_documents": 422,
    "query_too_long": 422,
    "invalid_documents": 422,
    "idempotency_key_reused": 422,
    "encrypted_document": 422,
    "corrupt_document": 422,
    "no_text_layer": 422,
    "extraction_timeout": 422,
    "webhook_not_allowed": 422,
    "overloaded": 429,
    "rate_limited": 429,
    "quota_exceeded": 429,
    "headers_too_large": 431,
    "internal_error": 500,
    "upstream_error": 502,
    "model_unavailable": 503,
    "models_busy": 503,
    "not_ready": 503,
    "shutting_down": 503,
    "upstream_unavailable": 503,
}
# Codes of a file that cannot be read as a document (models.documents), however it arrives.
FILE_ERROR_CODES = (
    "unsupported_file_type",
    "encrypted_document",
    "corrupt_document",
    "no_text_layer",
    "archive_too_large",
    "too_many_pages",
    "extraction_timeout",
)
# Codes one document gets inside a 200: a batch item, a job's result line, a `docsum batch` line.
DOCUMENT_ERROR_CODES = (
    "empty_document",
    "document_too_large",
    "input_too_long",
    "too_many_chunks",
    "too_many_sentences",
    "invalid_input",
    "summarization_failed",
    "invalid_line",
    *FILE_ERROR_CODES,
    "upstream_error",
    "upstream_unavailable",
)
# Codes of the problems a 422 invalid_documents lists, one per bad line or document of a job.
PROBLEM_CODES = (
    "invalid_line",
    "invalid_encoding",
    "invalid_document",
    "duplicate_id",
    "empty_document",
    "document_too_large",
    *FILE_ERROR_CODES,
)
# Job ids and other caller-given names are echoed at most this long.
ECHO_CHARS = 64

# The framework's own errors, by status: each code is in ERROR_CODES with that status.
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


def error_body(
    code: str, message: str, param: str | None, request_id: str | None, details: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """The one error shape; ``details`` are extra fields of a particular code (never replacing the three)."""
    note_error(code)  # the request's metrics count its errors by code (service.observability)
    error = {**(details or {}), "code": code, "message": message, "param": param}
    return {"error": error, "request_id": request_id}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    details: Mapping[str, object] | None = None,
) -> JSONResponse:
    request_id = getattr(request.state, "request_id", None)
    body = error_body(code, message, param, request_id, details)
    return JSONResponse(body, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(ModelError, _model_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    # Anything else is answered by RequestIdMiddleware: a 500 in this envelope.


async def _service_error(request: Request, exc: ServiceError) -> JSONResponse:
    headers = dict(exc.headers or {})
    if isinstance(exc, Overloaded):
        headers["Retry-After"] = str(exc.retry_after)
    return error_response(request, exc.status, exc.code, exc.message, exc.param, headers=headers, details=exc.details)


async def _model_error(request: Request, exc: ModelError) -> JSONResponse:
    status, code = model_error_status(exc)
    return error_response(request, status, code, exc.message, exc.param, details=model_error_details(exc))


def model_error_status(exc: ModelError) -> tuple[int, str]:
    """The HTTP status and error code of a model-library exception (its class says its code)."""
    return ERROR_CODES[exc.code], exc.code


def shorten(value: str, limit: int = ECHO_CHARS) -> str:
    """A caller's string as an error message may echo it: at most ``limit`` characters."""
    return value if len(value) <= limit else value[: limit - 1] + "…"


def model_error_details(exc: ModelError) -> dict[str, object]:
    """The numbers behind the error (``input_tokens`` and ``max_input_tokens``, ``chunks`` and ``max_chunks``, ...)."""
    return dict(exc.details)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    param = ".".join(location) or None
    if first.get("type") == "json_invalid":
        return error_response(request, 422, "invalid_json", f"the body is not valid JSON: {first['msg']}")
    message = f"{param}: {first['msg']}" if param else str(first["msg"])
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return error_response(request, 422, "invalid_request", message, param)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette's Allow names the first route of the path only (POST, not GET, for /v1/jobs).
        allow = ", ".join(allowed_methods(request))
        if request.method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": allow})
        headers = {**(headers or {}), "Allow": allow}
    code = _HTTP_CODES.get(exc.status_code, "bad_request" if exc.status_code < 500 else "internal_error")
    return error_response(request, exc.status_code, code, str(exc.detail), headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method the OpenAPI document gives the request's path, HEAD with GET, and OPTIONS."""
    methods = {"OPTIONS"}
    segments = request.url.path.rstrip("/").split("/")
    for template, operations in request.app.openapi().get("paths", {}).items():
        parts = template.rstrip("/").split("/")
        if len(parts) == len(segments) and all(
            part == segment or (part.startswith("{") and segment) for part, segment in zip(parts, segments, strict=True)
        ):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)
