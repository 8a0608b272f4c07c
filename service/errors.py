"""One error shape for every non-2xx answer, and the exceptions that produce it.

Every error body is ``{"error": {"code", "message", "param"}, "request_id"}``;
the framework's own 404, 405 and 422 are rewritten into it, and nothing ever
answers with a stack trace.

ServiceError (status, code)          raised by handlers and the engine
├── InvalidRequest        422  invalid_request, duplicate_id, too_many_documents, invalid_documents
│                              (its error object lists the bad lines), idempotency_key_reused, ...
├── NotFound              404  job_not_found (also a job past its retention, or another caller's)
├── PayloadTooLarge       413  body_too_large, document_too_large
├── UnsupportedMediaType  415  unsupported_media_type
└── Overloaded            429  overloaded: the model's queue is full; sent with Retry-After

The model library's exceptions are mapped where they cross into HTTP:
UnknownModel 404 model_not_found · ModelUnavailable 503 model_unavailable ·
UnsupportedOption 422 unsupported_option · InvalidInput 422 invalid_input ·
InputTooLong 422 input_too_long, whose error object also carries ``input_tokens``
and ``max_input_tokens`` · TooManyChunks 422 too_many_chunks (``chunks``, ``max_chunks``) ·
TooManySentences 422 too_many_sentences (``sentences``, ``max_sentences``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.errors import (
    InputTooLong,
    InvalidInput,
    ModelError,
    ModelUnavailable,
    TooManyChunks,
    TooManySentences,
    UnknownModel,
    UnsupportedOption,
)


class ServiceError(Exception):
    status = 500
    code = "internal_error"

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


_MODEL_ERRORS: dict[type[ModelError], tuple[int, str]] = {
    InputTooLong: (422, "input_too_long"),
    TooManyChunks: (422, "too_many_chunks"),
    TooManySentences: (422, "too_many_sentences"),
    UnknownModel: (404, "model_not_found"),
    ModelUnavailable: (503, "model_unavailable"),
    UnsupportedOption: (422, "unsupported_option"),
    InvalidInput: (422, "invalid_input"),
}
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_body(
    code: str, message: str, param: str | None, request_id: str | None, details: Mapping[str, object] | None = None
) -> dict[str, Any]:
    """The one error shape; ``details`` are extra fields of a particular code (never replacing the three)."""
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
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, Overloaded) else None
    return error_response(request, exc.status, exc.code, exc.message, exc.param, headers=headers, details=exc.details)


async def _model_error(request: Request, exc: ModelError) -> JSONResponse:
    status, code = model_error_status(exc)
    return error_response(request, status, code, exc.message, exc.param, details=model_error_details(exc))


def model_error_status(exc: ModelError) -> tuple[int, str]:
    """The HTTP status and error code of a model-library exception."""
    return next((mapped for kind, mapped in _MODEL_ERRORS.items() if isinstance(exc, kind)), (422, "invalid_request"))


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


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return error_response(request, exc.status_code, code, str(exc.detail), headers=exc.headers)
