"""Bounded shutdown, and clients that stop sending: nothing holds the process up for long.

* A request body must keep coming: ``DOCSUM_BODY_TIMEOUT_SECONDS`` without its next part
  answers 408 ``request_timeout`` and closes the connection (nginx's ``client_body_timeout``:
  per read, so a large job upload on a slow link still gets through).
* The first SIGTERM starts a drain: the server keeps listening, but ``/ready`` and every
  new request except ``/health`` answer 503 ``shutting_down``, while requests in flight get
  ``DOCSUM_DRAIN_SECONDS`` to finish. Then uvicorn shuts down: what still runs is cut (its
  model work stops at the next pause point), the app's lifespan closes, and the process
  exits 0. A second SIGTERM ends the drain at once; SIGINT keeps uvicorn's own behaviour.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from types import FrameType

import uvicorn
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_body
from service.middleware import send_json

logger = logging.getLogger(__name__)

# After the drain, how long uvicorn waits for connections before it cancels what still runs.
CUT_SECONDS = 1
# Paths that still answer while draining: the process is alive, only going away.
_ALWAYS_ANSWERED = frozenset({"/health"})


class Lifecycle:
    """Whether the server is draining, and how many requests are in flight (event-loop thread only)."""

    def __init__(self) -> None:
        self.draining_since: float | None = None
        self.in_flight = 0

    @property
    def draining(self) -> bool:
        return self.draining_since is not None

    def drain(self) -> None:
        if self.draining_since is None:
            self.draining_since = time.monotonic()

    def drained(self, drain_seconds: float) -> bool:
        """Nothing left in flight, or the drain time is up."""
        if self.draining_since is None:
            return False
        return self.in_flight == 0 or time.monotonic() - self.draining_since >= drain_seconds


class LifecycleMiddleware:
    """Counts requests in flight; while draining, refuses new ones with 503 ``shutting_down``."""

    def __init__(self, app: ASGIApp, lifecycle: Lifecycle) -> None:
        self.app = app
        self.lifecycle = lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.lifecycle.draining and scope["path"] not in _ALWAYS_ANSWERED:
            await _shutting_down(scope, send, "the server is shutting down; retry on another replica")
            return
        started = False

        async def tracked_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        self.lifecycle.in_flight += 1
        try:
            await self.app(scope, receive, tracked_send)
        except asyncio.CancelledError:
            if self.lifecycle.draining and not started:  # cut at the end of the drain: say so, in the envelope
                await _shutting_down(scope, send, "the server shut down before this request finished; retry")
            raise
        finally:
            self.lifecycle.in_flight -= 1


async def _shutting_down(scope: Scope, send: Send, message: str) -> None:
    body = error_body("shutting_down", message, None, scope.get("state", {}).get("request_id"))
    await send_json(send, 503, body, headers=[(b"connection", b"close"), (b"retry-after", b"1")])


class BodyTimeoutMiddleware:
    """A wait of more than ``timeout`` seconds for the next part of the body fails the request with 408."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False

        async def timed_receive() -> Message:
            nonlocal body_done
            if body_done:  # later reads wait for a disconnect, as long as the response takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout)
            except TimeoutError:
                # FastAPI passes an HTTPException from body reading through to the error handlers.
                raise HTTPException(
                    408, f"no more of the request body came for {self.timeout:g} s", headers={"Connection": "close"}
                ) from None
            body_done = message["type"] != "http.request" or not message.get("more_body", False)
            return message

        await self.app(scope, timed_receive, send)


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on SIGTERM (see the module's docstring) and then exiting 0."""

    def __init__(self, config: uvicorn.Config, lifecycle: Lifecycle, drain_seconds: float) -> None:
        super().__init__(config)
        self.lifecycle = lifecycle
        self.drain_seconds = drain_seconds

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM:
            super().handle_exit(sig, frame)
            return
        # Not re-raised after shutdown (uvicorn would): a drained SIGTERM is a clean exit, status 0.
        if self.lifecycle.draining:
            self.should_exit = True  # a second SIGTERM: stop draining now
            return
        logger.info("SIGTERM: draining for up to %g s", self.drain_seconds)
        self.lifecycle.drain()

    async def on_tick(self, counter: int) -> bool:
        if not self.should_exit and self.lifecycle.drained(self.drain_seconds):
            if self.lifecycle.in_flight:
                logger.warning("drain time is up: cutting %d requests in flight", self.lifecycle.in_flight)
            self.should_exit = True
        return await super().on_tick(counter)
