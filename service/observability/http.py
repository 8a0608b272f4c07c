"""Each HTTP request timed, counted and traced: ``docsum_request_duration_seconds``, errors by code, a span.

Sits just inside ``RequestIdMiddleware``, so it sees the request id and every answer,
the refusals of the size and drain middleware included. The route label is the route's
template (``/v1/jobs/{job_id}``), never the raw path, and the model label a catalog name
(``service.request_context``): what a caller sends cannot grow the number of series.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from opentelemetry import propagate, trace
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.metrics import Metrics
from service.request_context import current_request

# Scrapes every few seconds would bury the requests that matter in the traces.
_UNTRACED = frozenset({"/metrics"})
# A client that left before any answer: nginx's word for it.
_CLIENT_GONE = 499
# Any other method is labelled "other": a caller cannot make up new series.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class ObservedMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics | None, tracer: trace.Tracer) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "other"
        tracer = trace.NoOpTracer() if scope["path"] in _UNTRACED else self.tracer
        parent = propagate.extract({k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])})
        with tracer.start_as_current_span(method, parent, kind=trace.SpanKind.SERVER) as span:
            if self.metrics is not None:
                self.metrics.requests_in_progress.inc()
            try:
                await self.app(scope, receive, observed_send)
            except asyncio.CancelledError:
                status = status or _CLIENT_GONE
                raise
            except Exception:
                status = status or 500  # RequestIdMiddleware answers it
                raise
            finally:
                self._record(scope, method, span, status or 500, time.perf_counter() - started)

    def _record(self, scope: Scope, method: str, span: trace.Span, status: int, seconds: float) -> None:
        info = current_request()
        model = info.model if info is not None else ""
        code = info.error_code if info is not None and info.error_code else ""
        route = route_of(scope)
        if span.is_recording():
            span.update_name(f"{method} {route}")
            attributes: dict[str, Any] = {
                "http.request.method": method,
                "http.route": route,
                "url.path": scope["path"],
                "http.response.status_code": status,
                "docsum.request_id": info.request_id if info is not None else "",
                "docsum.model": model,
            }
            if code:
                attributes["error.type"] = code
            span.set_attributes(attributes)
            if status >= 500:
                span.set_status(trace.StatusCode.ERROR)
        if self.metrics is None:
            return
        self.metrics.requests_in_progress.dec()
        self.metrics.request_duration.labels(method, route, str(status), model).observe(seconds)
        if status >= 400 or code:
            fallback = "internal_error" if status >= 500 else "client_gone" if status == _CLIENT_GONE else "unknown"
            self.metrics.errors.labels(str(status), code or fallback).inc()


def route_of(scope: Scope) -> str:
    """The template of the route the request matched (or would have, had a middleware not refused it first)."""
    route = scope.get("route")
    if route is not None and hasattr(route, "path"):
        return str(route.path)
    app = scope.get("app")
    partial = None
    for candidate in getattr(app, "routes", ()):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(candidate.path)
        if match == Match.PARTIAL and partial is None:  # the path, another method (405)
            partial = str(candidate.path)
    return partial or "unmatched"
