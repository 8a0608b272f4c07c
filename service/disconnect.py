"""Pure ASGI middleware: when the client goes away, the request's work is cancelled.

Once the app has read the whole request body, this middleware alone listens on
the connection; if the client disconnects before the response is complete, it
cancels the task running the request. The engine then drops that request's
documents from its model's queue (``service.engine``), so a client that gave up
costs no model time. To the app, later reads of the body see ``http.disconnect``
as usual.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CancelOnDisconnectMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        gone = asyncio.Event()
        finished = False
        watcher: asyncio.Task[None] | None = None
        app_task: asyncio.Task[None] | None = None

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            if not finished and app_task is not None:
                app_task.cancel()

        async def watched_receive() -> Message:
            nonlocal watcher
            if watcher is not None:  # the body is read: the watcher owns the connection now
                await gone.wait()
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.disconnect":
                gone.set()
            elif not message.get("more_body", False):
                watcher = asyncio.ensure_future(watch())
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        app_task = asyncio.ensure_future(self.app(scope, watched_receive, tracked_send))
        try:
            await app_task
        except asyncio.CancelledError:
            if not gone.is_set() or finished:
                raise  # cancelled from outside, not by a disconnect
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
