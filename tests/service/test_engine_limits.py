"""The engine under pressure: a full queue answers 429, dropped work never runs, failures stay contained."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.errors import ModelUnavailable, UnsupportedOption
from models.runner import Document
from models.types import SummaryOptions
from service.app import create_app
from service.deps import context_of
from service.engine import Engine
from service.errors import Overloaded
from service.settings import Settings
from tests.fakes import FAIL_MARKER
from tests.service.asgi import summarize_scope
from tests.service.engine_helpers import GatedSummarizer, hold, make_engine, queued

pytestmark = pytest.mark.anyio


async def test_a_full_queue_refuses_with_overloaded() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=8, queue_size=2)
    try:
        held = await hold(engine, fake)
        waiting = asyncio.ensure_future(engine.summarize("fake", ["one", "two"], SummaryOptions()))
        await queued(engine, "fake", 2)
        with pytest.raises(Overloaded) as refused:
            await engine.summarize("fake", ["three"], SummaryOptions())
        assert refused.value.status == 429 and refused.value.retry_after >= 1
        fake.release()
        assert len(await waiting) == 2
        await held
        assert len(await engine.summarize("fake", ["now there is room"], SummaryOptions())) == 1
    finally:
        engine.close()


async def test_cancelled_requests_leave_the_queue_and_are_never_run() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=8, queue_size=3)
    try:
        held = await hold(engine, fake)
        gone = asyncio.ensure_future(engine.summarize("fake", ["abandoned one", "abandoned two"], SummaryOptions()))
        kept = asyncio.ensure_future(engine.summarize("fake", ["kept"], SummaryOptions()))
        await queued(engine, "fake", 3)
        gone.cancel()
        await queued(engine, "fake", 1)  # its places are free at once
        fake.release()
        assert [s.summary for s in await kept] == ["kept"]
        await held
    finally:
        engine.close()
    assert all("abandoned" not in text for call in fake.calls for text in call)


async def test_one_failing_document_does_not_fail_the_requests_it_shared_a_call_with() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=8)
    try:
        held = await hold(engine, fake)
        good = asyncio.ensure_future(engine.summarize("fake", ["good text here"], SummaryOptions()))
        bad = asyncio.ensure_future(engine.summarize("fake", [f"bad {FAIL_MARKER}"], SummaryOptions()))
        documents = [Document("ok", "fine words"), Document("broken", FAIL_MARKER), Document("empty", " ")]
        batch = asyncio.ensure_future(engine.summarize_documents("fake", documents, SummaryOptions()))
        await queued(engine, "fake", 4)
        fake.release()
        [summary] = await good
        with pytest.raises(RuntimeError, match="fake model broke"):
            await bad
        results = await batch
        await held
    finally:
        engine.close()
    assert summary.summary == "good text here"
    assert [r.id for r in results] == ["ok", "broken", "empty"]
    assert results[0].summary is not None and results[0].summary.summary == "fine words"
    assert results[1].error is not None and results[1].error.code == "summarization_failed"
    assert results[2].error is not None and results[2].error.code == "empty_document"


async def test_unsupported_options_and_unavailable_models_fail_the_whole_request() -> None:
    fake = GatedSummarizer()
    registry = ModelRegistry(
        {**BUILTIN_MODELS}, loader=lambda spec: (_ for _ in ()).throw(ModelUnavailable("no weights here"))
    )
    registry.add(fake)
    engine = Engine(registry, batch_wait_ms=0)
    try:
        with pytest.raises(UnsupportedOption):
            await engine.summarize_documents("fake", [Document("a", "text")], SummaryOptions(sentences=2))
        with pytest.raises(ModelUnavailable):
            await engine.summarize("t5-small", ["text"], SummaryOptions())
        with pytest.raises(ModelUnavailable):
            await engine.load("t5-small")
        assert await engine.load("fake") is fake
    finally:
        engine.close()


async def test_http_429_has_retry_after_and_a_disconnected_client_loses_its_work() -> None:
    fake = GatedSummarizer()
    registry = ModelRegistry(BUILTIN_MODELS)
    registry.add(fake)
    settings = Settings(default_model="fake", queue_size=1, batch_wait_ms=0)
    app = create_app(settings, registry)
    engine: Engine = context_of(app).engine
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://docsum") as client:
            held = await hold(engine, fake)
            first = asyncio.ensure_future(client.post("/v1/summarize", json={"text": "queued words"}))
            await queued(engine, "fake", 1)
            refused = await client.post("/v1/summarize", json={"text": "one too many"})
            assert refused.status_code == 429, refused.text
            assert int(refused.headers["retry-after"]) >= 1
            body = refused.json()
            assert body["error"]["code"] == "overloaded" and body["request_id"] == refused.headers["x-request-id"]

            # A raw ASGI exchange whose client disconnects while its document waits in the queue.
            leave = asyncio.Event()
            sent: list[dict[str, Any]] = []
            payload = json.dumps({"text": "the client will leave"}).encode()
            messages = [{"type": "http.request", "body": payload, "more_body": False}]

            async def receive() -> dict[str, Any]:
                if messages:
                    return messages.pop()
                await leave.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict[str, Any]) -> None:
                sent.append(message)

            scope = summarize_scope(payload)
            fake.release()  # let the held call and the queued request finish, then hold the model again
            assert (await first).status_code == 200
            await held
            fake.gate.clear()
            fake.holding.clear()
            held = await hold(engine, fake)
            exchange = asyncio.ensure_future(app(scope, receive, send))
            await queued(engine, "fake", 1)
            leave.set()
            await exchange
            await queued(engine, "fake", 0)
            assert not any(m["type"] == "http.response.start" and m["status"] == 200 for m in sent)
            fake.release()
            await held
    finally:
        engine.close()
    assert all("will leave" not in text for call in fake.calls for text in call)
