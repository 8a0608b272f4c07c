"""Server-sent events for one summary: progress, token deltas, then the summary or an error.

The model runs on its engine worker thread; its events cross into the event loop
through ``call_soon_threadsafe`` and leave as SSE frames in the order they happened.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

from fastapi.sse import format_sse_event

from models.errors import ModelError
from models.types import ProgressEvent, SummaryEvent, SummaryOptions, TokenEvent
from service.engine import Engine
from service.errors import ServiceError, error_body, model_error_details, model_error_status
from service.schemas import SummarizeResponse

logger = logging.getLogger(__name__)


async def summary_events(
    engine: Engine, model: str, text: str, options: SummaryOptions, request_id: str | None
) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[SummaryEvent] = asyncio.Queue()

    def on_event(event: SummaryEvent) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, event)

    work = asyncio.ensure_future(engine.summarize(model, [text], options, on_event=on_event))
    try:
        while True:
            next_event = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({next_event, work}, return_when=asyncio.FIRST_COMPLETED)
            if next_event not in done:
                next_event.cancel()
                break
            yield _frame(next_event.result())
        while not queue.empty():
            yield _frame(queue.get_nowait())
        [summary] = work.result()
        response = SummarizeResponse.build(summary, model, options)
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
