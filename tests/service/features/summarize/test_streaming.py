from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.types import EventSink, ProgressEvent, Summary, SummaryOptions
from service.app import create_app
from service.deps import context_of
from service.engine import Engine
from service.settings import Settings
from tests.fakes import FAIL_MARKER
from tests.service.asgi import summarize_scope
from tests.service.engine_helpers import HOLD, GatedSummarizer, hold, queued


def events(response: Any) -> list[tuple[str, Any]]:
    assert response.headers["content-type"].startswith("text/event-stream")
    parsed = []
    for frame in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in fields:
            parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


def test_events_arrive_in_order_and_end_with_the_plain_response(client: TestClient) -> None:
    body = {"text": "one two three four five six", "max_tokens": 3}
    streamed = events(client.post("/v1/summarize", json={**body, "stream": True}))
    names = [name for name, _ in streamed]
    assert names == ["progress", "token", "token", "token", "summary"]
    assert streamed[0][1] == {"chunks_done": 1, "chunks_total": 1, "round": 0}
    assert "".join(data["text"] for name, data in streamed if name == "token").split() == ["one", "two", "three"]
    assert streamed[-1][1] == client.post("/v1/summarize", json=body).json()


def test_a_failure_mid_stream_is_an_error_event(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": f"some words {FAIL_MARKER}", "stream": True})
    assert response.status_code == 200
    streamed = events(response)
    assert [name for name, _ in streamed][-1] == "error"
    assert "token" in [name for name, _ in streamed]
    error = streamed[-1][1]
    assert error["error"]["code"] == "internal_error"
    assert error["request_id"] == response.headers["x-request-id"]


def test_a_model_error_before_the_first_event_is_a_plain_status(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": "x", "sentences": 2, "stream": True})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "unsupported_option"


def test_what_can_be_refused_up_front_is_a_plain_error(client: TestClient) -> None:
    unknown = client.post("/v1/summarize", json={"text": "x", "model": "nope", "stream": True})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    unavailable = client.post("/v1/summarize", json={"text": "x", "model": "t5-small", "stream": True})
    assert unavailable.status_code == 503
    too_long = client.post("/v1/summarize", json={"text": "x" * 3000, "stream": True})
    assert too_long.status_code == 413


def test_a_long_document_streams_progress_then_the_same_summary(tiny_bart_dir: Path) -> None:
    settings = Settings(models=(f"tiny={tiny_bart_dir}",), default_model="tiny", dtype="float32")
    text = "The council approved the bridge after a long debate. " * 40
    body = {"text": text, "max_tokens": 8, "num_beams": 1}
    with TestClient(create_app(settings)) as client:
        streamed = events(client.post("/v1/summarize", json={**body, "stream": True}))
        plain = client.post("/v1/summarize", json=body).json()
    final = streamed[-1]
    assert final == ("summary", plain)
    progress = [data for name, data in streamed if name == "progress" and data["round"] == 0]
    assert [p["chunks_done"] for p in progress] == list(range(1, len(plain["chunks"]) + 1))
    tokens = "".join(data["text"] for name, data in streamed if name == "token")
    assert " ".join(tokens.split()) == plain["summary"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "x", "sentences": 2}, 422, "unsupported_option"),
        ({"text": "word " * 80, "truncation": "error"}, 422, "input_too_long"),
        ({"text": " \n\t "}, 422, "empty_document"),
        ({"text": "x", "model": "nope"}, 404, "model_not_found"),
        ({"text": "x", "model": "t5-small"}, 503, "model_unavailable"),
        ({"text": "x" * 3000}, 413, "document_too_large"),
    ],
)
def test_every_refusal_known_before_the_first_event_is_the_plain_status(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    streamed = client.post("/v1/summarize", json={**body, "stream": True})
    plain = client.post("/v1/summarize", json=body)
    for response in (streamed, plain):
        assert response.status_code == status, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.json()["error"]["code"] == code
    assert streamed.json()["error"] == plain.json()["error"]


class _StreamingGate(GatedSummarizer):
    """Sends one progress event, then holds the model (a text with HOLD) until released."""

    def summarize(  # type: ignore[override]
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        if on_event is not None:
            on_event(ProgressEvent(0, 1, 2, 0))
        return super().summarize(texts, options)


@pytest.mark.anyio
async def test_a_full_queue_refuses_a_stream_with_429_and_retry_after() -> None:
    fake = _StreamingGate()
    registry = ModelRegistry(BUILTIN_MODELS)
    registry.add(fake)
    app = create_app(Settings(default_model="fake", queue_size=1, batch_wait_ms=0), registry)
    engine: Engine = context_of(app).engine
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://docsum") as client:
            held = await hold(engine, fake)
            first = asyncio.ensure_future(client.post("/v1/summarize", json={"text": "queued words"}))
            await queued(engine, "fake", 1)
            refused = await client.post("/v1/summarize", json={"text": "one too many", "stream": True})
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            assert refused.json()["error"]["code"] == "overloaded"
            fake.release()
            assert (await first).status_code == 200
            await held
    finally:
        engine.close()


@pytest.mark.anyio
async def test_a_client_that_leaves_mid_stream_leaves_no_pending_task() -> None:
    fake = _StreamingGate()
    registry = ModelRegistry(BUILTIN_MODELS)
    registry.add(fake)
    app = create_app(Settings(default_model="fake", batch_wait_ms=0), registry)
    payload = json.dumps({"text": f"{HOLD} and more words", "stream": True}).encode()
    messages = [{"type": "http.request", "body": payload, "more_body": False}]
    leave = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop()
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and b"progress" in message.get("body", b""):
            leave.set()  # the first event arrived; the model is still held: the client goes

    try:
        await asyncio.wait_for(app(summarize_scope(payload), receive, send), 10)
        assert sent[0]["status"] == 200
        await asyncio.sleep(0.05)
        # Before, the task waiting for the next event stayed pending: "Task was destroyed but it is pending!".
        stranded = [t for t in asyncio.all_tasks() if not t.done() and "Queue.get" in repr(t.get_coro())]
        assert stranded == []
    finally:
        fake.release()
        context_of(app).engine.close()
