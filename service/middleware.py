"""Pure ASGI middleware: a request id on every exchange, and caps on header and body size."""

from __future__ import annotations

import json
import logging
import re
import uuid

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body
from service.request_context import request_scope

logger = logging.getLogger(__name__)

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes a sane ``X-Request-ID`` from the client or makes one; echoes it back.

    It is also the last resort for errors nothing else handled: a 500 in the
    usual envelope, with the id, and the traceback only in the log.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = _header(scope, b"x-request-id")
        request_id = given if given and _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        with request_scope(request_id):  # the id on every log line of the request (service.observability.logs)
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
                if started:
                    raise
                await send_json(send_with_id, 500, error_body("internal_error", _INTERNAL, None, request_id))


_INTERNAL = "the server failed to handle this request"


class BodySizeLimitMiddleware:
    """Refuses bodies over ``max_bytes`` with 413, whether declared up front or streamed.

    ``per_path`` gives some paths their own limit (job uploads are far larger than a summarize call).
    """

    def __init__(self, app: ASGIApp, max_bytes: int, per_path: dict[str, int] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.per_path = per_path or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"].rstrip("/"), self.max_bytes)
        declared = _header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # FastAPI passes an HTTPException from body reading through to the error handlers.
                    raise HTTPException(413, _too_large(limit))
            return message

        await self.app(scope, counting_receive, send)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        request_id = scope.get("state", {}).get("request_id")
        await send_json(send, 413, error_body("body_too_large", _too_large(limit), None, request_id))


class HeaderSizeLimitMiddleware:
    """Refuses requests whose headers (names and values together) pass ``max_bytes``: 431, in the envelope.

    uvicorn itself answers what it cannot parse (a request line over 64 KiB, a bad chunk size) with a
    plain-text 400 before any of this runs.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope.get("headers", []))
            if size > self.max_bytes:
                request_id = scope.get("state", {}).get("request_id")
                message = f"the request headers are larger than {self.max_bytes} bytes"
                await send_json(send, 431, error_body("headers_too_large", message, None, request_id))
                return
        await self.app(scope, receive, send)


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


async def send_json(
    send: Send, status: int, payload: dict[str, object], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(payload).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return None
