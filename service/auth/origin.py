"""What browsers on other sites may do: CORS by allow-list (``DOCSUM_CORS_ORIGINS``, off by default),
and no writes from a foreign page.

A browser sends a form (``multipart/form-data``, ``application/x-www-form-urlencoded``) cross-site
without asking first (no preflight), so a page elsewhere could make a visitor's browser create a
job on a docsum it can reach (the visitor's own machine, an intranet). Browsers put ``Origin`` on
such requests: a POST, PUT, PATCH or DELETE whose ``Origin`` is neither this server's own nor in the
allow-list is refused with 403 ``origin_not_allowed``, as is a preflight from such an origin.
Clients that are not browsers send no ``Origin`` and are not affected.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from service.errors import error_body
from service.middleware import send_json

_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
# What a browser page may send and read across origins.
ALLOW_HEADERS = ("Authorization", "X-API-Key", "Content-Type", "Idempotency-Key", "X-Request-ID")
EXPOSE_HEADERS = (
    "X-Request-ID",
    "Location",
    "Retry-After",
    "RateLimit",
    "RateLimit-Policy",
    "X-Job-Status",
    "Idempotent-Replayed",
)


class OriginGuardMiddleware:
    def __init__(self, app: ASGIApp, allowed: Sequence[str]) -> None:
        self.app = app
        self.allowed = frozenset(origin.rstrip("/") for origin in allowed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = {name: value for name, value in scope.get("headers", []) if name in (b"origin", b"host")}
            origin = headers.get(b"origin", b"").decode("latin-1")
            method = scope["method"]
            preflight = method == "OPTIONS" and any(
                name == b"access-control-request-method" for name, _ in scope.get("headers", [])
            )
            if origin and (preflight or method not in _SAFE) and not self._allowed(origin, headers.get(b"host")):
                request_id = scope.get("state", {}).get("request_id")
                message = f"requests from the origin {origin[:100]!r} are not allowed here (DOCSUM_CORS_ORIGINS)"
                await send_json(send, 403, error_body("origin_not_allowed", message, "Origin", request_id))
                return
        await self.app(scope, receive, send)

    def _allowed(self, origin: str, host: bytes | None) -> bool:
        if origin in self.allowed or "*" in self.allowed:
            return True
        # Same origin: the page came from this server (through a proxy the scheme may differ; the host may not).
        return host is not None and urlsplit(origin).netloc == host.decode("latin-1")


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """CORS for the allow-list; nothing when it is empty."""
    if not origins:
        return
    app.add_middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=list(ALLOW_HEADERS),
        expose_headers=list(EXPOSE_HEADERS),
        allow_credentials=False,  # keys travel in headers, never in cookies
        max_age=600,
    )
