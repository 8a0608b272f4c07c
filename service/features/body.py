"""JSON request bodies, read one way on every endpoint that takes one.

FastAPI's own reader answers 400 for invalid UTF-8, very deep nesting or a huge
number, and 422 "a valid dictionary" for a body that is not JSON at all. Here a
body that is not declared JSON is 415 ``unsupported_media_type`` and one that is
not valid JSON is 422 ``invalid_json``, on the summarize and the jobs endpoints alike.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import pydantic_core
from fastapi import Request, Response
from fastapi.routing import APIRoute

from service.errors import InvalidRequest, UnsupportedMediaType

JSON = "application/json"


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def is_json(request: Request) -> bool:
    kind = media_type(request)
    return kind == JSON or (kind.startswith("application/") and kind.endswith("+json"))


def parse_json(data: bytes | str) -> Any:
    """Strict JSON: UTF-8, no lone surrogates, nesting and numbers within pydantic-core's limits."""
    try:
        return pydantic_core.from_json(data)
    except ValueError as exc:
        raise InvalidRequest(f"the body is not valid JSON: {exc}", code="invalid_json") from None


class JsonBodyRoute(APIRoute):
    """A route whose body is JSON: checked and parsed before FastAPI validates it. A route that declares a
    ``multipart/form-data`` body in its OpenAPI (``openapi_extra``) also gets uploads, unparsed."""

    @property
    def takes_uploads(self) -> bool:
        content = (self.openapi_extra or {}).get("requestBody", {}).get("content", {})
        return "multipart/form-data" in content

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def read_json_first(request: Request) -> Response:
            if media_type(request) == "multipart/form-data" and self.takes_uploads:
                return await handler(request)  # the route reads its form itself
            if not is_json(request):
                raise UnsupportedMediaType("send the body as application/json", param="Content-Type")
            # Starlette keeps the parsed body here, and FastAPI reads it from request.json(): parsed once.
            request._json = parse_json(await request.body())
            return await handler(request)

        return read_json_first
