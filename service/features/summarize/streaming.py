"""Server-sent events for one summary: progress, token deltas, then the summary or an error.

The model runs on its engine worker thread; its events cross into the event loop
through ``call_soon_threadsafe`` and leave as SSE frames in the order they happened.
The stream starts only once the work has produced its first event (or finished):
whatever fails before that (a full queue, an unsupported option, an input over the
window) is raised to the caller as a plain error status, not a 200 with an error event.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator

from fastapi.sse import format_sse_event

from models.errors import ModelError
from models.types import ProgressEvent, Summary, SummaryEvent, SummaryOptions, TokenEvent
from service.engine import Engine
from service.errors import ServiceError, error_body, model_error_details, model_error_status
from service.features.summarize.protocol import SummarizeResponse
from service.features.summarize.source import Source

logger = logging.getLogger(__name__)

# Put on the queue when the work ends, after every event it sent.
_DONE = object()


async def start_summary_events(
    engine: Engine,
    model: str,
    text: str,
    options: SummaryOptions,
    request_id: str | None,
    source: Source | None = None,
) -> AsyncIterator[bytes]:
    """Start the work and wait for its first event; what fails before that is raised here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[SummaryEvent | object] = asyncio.Queue()
    started, waiting = time.monotonic(), True

    def on_event(event: SummaryEvent) -> None:  # on the model's worker thread
        nonlocal waiting
        if waiting and isinstance(event, TokenEvent):
            waiting = False
            engine.telemetry.first_token(model, time.monotonic() - started)  # docsum_time_to_first_token_seconds
        loop.call_soon_threadsafe(queue.put_nowait, event)

    work = asyncio.ensure_future(engine.summarize(model, [text], options, on_event=on_event))
    # Events reach the queue through the loop before the work's own completion does, so this comes last.
    work.add_done_callback(lambda _: queue.put_nowait(_DONE))
    try:
        first = await queue.get()
        failure = work.exception() if first is _DONE else None
        if failure is not None:
            raise failure
    except BaseException:
        work.cancel()  # refused, or the client left while waiting: nothing waits for the work any more
        raise
    return _frames(first, queue, work, model, options, request_id, source)


async def _frames(
    first: SummaryEvent | object,
    queue: asyncio.Queue[SummaryEvent | object],
    work: asyncio.Future[list[Summary]],
    model: str,
    options: SummaryOptions,
    request_id: str | None,
    source: Source | None,
) -> AsyncIterator[bytes]:
    event = first
    try:
        while event is not _DONE:
            yield _frame(event)  # type: ignore[arg-type]
            event = await queue.get()
        [summary] = work.result()
        response = SummarizeResponse.build(summary, model, options, source)
        yield format_sse_event(event="summary", data_str=response.model_dump_json())
    except (ModelError, ServiceError) as exc:
        yield _error_frame(exc, request_id)
    except Exception:
        logger.exception("streaming a summary failed")
        yield _error_frame(None, request_id)
    finally:
        # The client went away or the stream ended: nothing waits for the work any more.
        work.cancel()


def _frame(event: SummaryEvent) -> bytes:
    if isinstance(event, TokenEvent):
        return format_sse_event(event="token", data_str=json.dumps({"text": event.text}))
    assert isinstance(event, ProgressEvent)
    data = {"chunks_done": event.done, "chunks_total": event.total, "round": event.round}
    return format_sse_event(event="progress", data_str=json.dumps(data))


def _error_frame(exc: ModelError | ServiceError | None, request_id: str | None) -> bytes:
    if isinstance(exc, ModelError):
        code = model_error_status(exc)[1]
        body = error_body(code, exc.message, exc.param, request_id, model_error_details(exc))
    elif isinstance(exc, ServiceError):
        body = error_body(exc.code, exc.message, exc.param, request_id)
    else:
        body = error_body("internal_error", "the server failed to handle this request", None, request_id)
    return format_sse_event(event="error", data_str=json.dumps(body))
