"""The engine: cross-request batching, priority, token budgets, 429, and dropped work.

Every test makes its scenario deterministic by holding the model: a gated fake
blocks inside its first call until the test has queued what it wants, then lets
go. Nothing here asserts on timing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.errors import ModelUnavailable, UnsupportedOption
from models.loading import LoadSettings
from models.runner import Document
from models.seq2seq import Seq2SeqSummarizer
from models.types import Summary, SummaryOptions
from models.yielding import step_done
from service.app import create_app
from service.engine import Engine, Priority
from service.errors import Overloaded
from service.settings import Settings
from tests.checkpoints import CORPUS
from tests.fakes import FAIL_MARKER, FakeSummarizer

pytestmark = pytest.mark.anyio

HOLD = "hold the model"


class GatedSummarizer(FakeSummarizer):
    """A fake whose call on a text containing HOLD blocks until ``release``."""

    def __init__(self, name: str = "fake", max_input_tokens: int = 50) -> None:
        super().__init__(name, max_input_tokens)
        self.holding = threading.Event()
        self.gate = threading.Event()
        self.sizes: list[int] = []

    def summarize(self, texts: Sequence[str], options: SummaryOptions) -> list[Summary]:
        if any(HOLD in text for text in texts):
            self.holding.set()
            assert self.gate.wait(30), "the test never released the model"
        self.sizes.append(len(texts))
        return super().summarize(texts, options)

    def release(self) -> None:
        self.gate.set()


def make_engine(summarizer: Any, **knobs: Any) -> Engine:
    registry = ModelRegistry(BUILTIN_MODELS, loader=lambda spec: FakeSummarizer(spec.name))
    registry.add(summarizer)
    knobs.setdefault("batch_wait_ms", 0)
    return Engine(registry, **knobs)


async def hold(engine: Engine, fake: GatedSummarizer) -> asyncio.Task[list[Summary]]:
    """Occupy the model's worker until ``fake.release()``."""
    task = asyncio.ensure_future(engine.summarize(fake.name, [HOLD], SummaryOptions()))
    await asyncio.to_thread(fake.holding.wait, 30)
    return task


async def queued(engine: Engine, model: str, count: int) -> None:
    """Yield to the loop until ``count`` documents wait in the model's queue."""
    for _ in range(3000):
        if engine.queued(model) == count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{engine.queued(model)} queued, expected {count}")


async def test_concurrent_requests_share_one_model_call() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=8)
    try:
        held = await hold(engine, fake)
        texts = [f"request number {i} says hello" for i in range(5)]
        tasks = [asyncio.ensure_future(engine.summarize("fake", [text], SummaryOptions())) for text in texts]
        await queued(engine, "fake", 5)
        fake.release()
        results = await asyncio.gather(*tasks)
        await held
    finally:
        engine.close()
    assert [r.summary for [r] in results] == [" ".join(t.split()[:5]) for t in texts]
    assert fake.sizes == [1, 5]  # the held call, then all five waiting requests together


async def test_a_worker_that_falls_idle_gives_free_heap_back_and_a_busy_one_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    trims: list[int] = []
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=2)
    monkeypatch.setattr("service.batching.return_free_heap", lambda: trims.append(engine.queued("fake")))
    try:
        held = await hold(engine, fake)
        tasks = [asyncio.ensure_future(engine.summarize("fake", [f"text {i}"], SummaryOptions())) for i in range(3)]
        await queued(engine, "fake", 3)
        fake.release()
        await asyncio.gather(held, *tasks)
    finally:
        engine.close()
    assert fake.sizes == [1, 2, 1]
    assert trims == [0]  # once, after the last call: none while documents still waited


async def test_only_requests_with_the_same_options_share_a_call() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=8)
    try:
        held = await hold(engine, fake)
        short, long = SummaryOptions(max_tokens=2), SummaryOptions(max_tokens=3)
        tasks = [
            asyncio.ensure_future(engine.summarize("fake", [f"a b c d {i}"], options))
            for i, options in enumerate([short, long, short, long])
        ]
        await queued(engine, "fake", 4)
        fake.release()
        results = await asyncio.gather(*tasks)
        await held
    finally:
        engine.close()
    assert [r.summary for [r] in results] == ["a b", "a b c", "a b", "a b c"]
    assert sorted(fake.sizes) == [1, 2, 2]
    assert sorted(map(sorted, fake.calls[1:])) == [["a b c d 0", "a b c d 2"], ["a b c d 1", "a b c d 3"]]


async def test_interactive_requests_overtake_queued_batch_work() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=1)
    try:
        held = await hold(engine, fake)
        documents = [Document(f"job-{i}", f"job document {i}") for i in range(3)]
        job = asyncio.ensure_future(engine.summarize_documents("fake", documents, SummaryOptions()))
        await queued(engine, "fake", 3)
        interactive = asyncio.ensure_future(engine.summarize("fake", ["interactive request"], SummaryOptions()))
        await queued(engine, "fake", 4)
        fake.release()
        await asyncio.gather(job, interactive, held)
    finally:
        engine.close()
    assert fake.calls[1] == ["interactive request"]
    assert [call[0] for call in fake.calls[2:]] == [f"job document {i}" for i in range(3)]


class SteppingSummarizer(GatedSummarizer):
    """Decodes in three steps as generate does, calling ``models.yielding.step_done`` after each;
    a call on HOLD stops after its first step until ``release``."""

    def __init__(self) -> None:
        super().__init__()
        self.log: list[tuple[str, tuple[str, ...]]] = []

    def summarize(self, texts: Sequence[str], options: SummaryOptions) -> list[Summary]:
        self.log.append(("start", tuple(texts)))
        for step in range(3):
            step_done()
            if step == 0 and any(HOLD in text for text in texts):
                self.holding.set()
                assert self.gate.wait(30)
        self.log.append(("end", tuple(texts)))
        return FakeSummarizer.summarize(self, texts, options)


async def test_an_interactive_request_is_served_between_decoding_steps_of_batch_work() -> None:
    fake = SteppingSummarizer()
    engine = make_engine(fake, batch_size=4)
    try:
        documents = [Document("held", HOLD), Document("other", "another job document")]
        job = asyncio.ensure_future(engine.summarize_documents("fake", documents, SummaryOptions()))
        await asyncio.to_thread(fake.holding.wait, 30)
        interactive = asyncio.ensure_future(engine.summarize("fake", ["interactive request"], SummaryOptions()))
        await queued(engine, "fake", 1)
        fake.release()
        [answer] = await interactive
        await job
    finally:
        engine.close()
    assert answer.summary == "interactive request"
    # Served inside the batch call, between two of its steps, not after it.
    batch_texts = tuple(sorted((HOLD, "another job document"), key=len, reverse=True))
    assert fake.log == [
        ("start", batch_texts),
        ("start", ("interactive request",)),
        ("end", ("interactive request",)),
        ("end", batch_texts),
    ]


async def test_interactive_calls_are_never_paused_for_more_interactive_work() -> None:
    fake = SteppingSummarizer()
    engine = make_engine(fake, batch_size=1)
    try:
        first = asyncio.ensure_future(engine.summarize("fake", [HOLD], SummaryOptions()))
        await asyncio.to_thread(fake.holding.wait, 30)
        second = asyncio.ensure_future(engine.summarize("fake", ["second request"], SummaryOptions()))
        await queued(engine, "fake", 1)
        fake.release()
        await asyncio.gather(first, second)
    finally:
        engine.close()
    assert [event for event, _ in fake.log] == ["start", "end", "start", "end"]


async def test_explicit_priority_argument() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=1)
    try:
        held = await hold(engine, fake)
        low = asyncio.ensure_future(engine.summarize("fake", ["low"], SummaryOptions(), priority=Priority.BATCH))
        await queued(engine, "fake", 1)
        high = asyncio.ensure_future(
            engine.summarize_documents("fake", [Document("x", "high")], SummaryOptions(), priority=Priority.INTERACTIVE)
        )
        await queued(engine, "fake", 2)
        fake.release()
        await asyncio.gather(low, high, held)
    finally:
        engine.close()
    assert fake.calls[1:] == [["high"], ["low"]]


async def test_batches_follow_the_token_budget_and_group_similar_lengths() -> None:
    fake = GatedSummarizer(max_input_tokens=10_000)
    # Texts of about 10 and 100 estimated tokens; 250 padded tokens fit two long ones or many short ones.
    engine = make_engine(fake, batch_size=8, batch_tokens=250)
    short = ["tiny text " * 4] * 4
    long = ["long text " * 40] * 3
    try:
        held = await hold(engine, fake)
        texts = [long[0], short[0], long[1], short[1], short[2], long[2], short[3]]
        tasks = [asyncio.ensure_future(engine.summarize("fake", [t], SummaryOptions())) for t in texts]
        await queued(engine, "fake", len(texts))
        fake.release()
        await asyncio.gather(*tasks, held)
    finally:
        engine.close()
    calls = fake.calls[1:]
    assert sum(len(call) for call in calls) == len(texts)
    for call in calls:
        assert len({len(text) for text in call}) == 1  # never a short text padded to a long one's length
        assert max(len(text) // 4 + 2 for text in call) * len(call) <= 250
    assert sorted(map(len, calls)) == [1, 2, 4]


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


async def test_a_model_is_only_ever_used_by_its_own_worker_thread() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=2)
    try:
        await asyncio.gather(*(engine.summarize("fake", [f"text {i}"], SummaryOptions()) for i in range(9)))
    finally:
        engine.close()
    assert fake.max_in_flight == 1
    assert fake.threads == {"docsum-fake"}


async def test_http_429_has_retry_after_and_a_disconnected_client_loses_its_work() -> None:
    fake = GatedSummarizer()
    registry = ModelRegistry(BUILTIN_MODELS)
    registry.add(fake)
    settings = Settings(default_model="fake", queue_size=1, batch_wait_ms=0)
    app = create_app(settings, registry)
    engine: Engine = app.state.engine
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

            scope = {
                "type": "http",
                "asgi": {"version": "3.0"},
                "http_version": "1.1",
                "method": "POST",
                "scheme": "http",
                "path": "/v1/summarize",
                "raw_path": b"/v1/summarize",
                "query_string": b"",
                "root_path": "",
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())],
                "client": ("127.0.0.1", 1234),
                "server": ("docsum", 80),
                "state": {},
            }
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


async def test_batched_outputs_equal_one_by_one_outputs(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    gated = GatedSeq2Seq(model)
    engine = make_engine(gated, batch_size=8, batch_tokens=10_000)
    texts = [" ".join(CORPUS[i : i + 1 + i % 3]) for i in range(7)]
    options = SummaryOptions(max_tokens=12, num_beams=1)
    alone = [model.summarize([text], options)[0] for text in texts]
    try:
        held = await hold(engine, gated)
        tasks = [asyncio.ensure_future(engine.summarize("tiny", [text], options)) for text in texts]
        documents = asyncio.ensure_future(
            engine.summarize_documents("tiny", [Document(str(i), t) for i, t in enumerate(texts)], options)
        )
        await queued(engine, "tiny", 2 * len(texts))
        gated.release()
        together = [summary for [summary] in await asyncio.gather(*tasks)]
        results = await documents
        await held
    finally:
        engine.close()
    assert max(gated.sizes) > 1  # they did share calls
    assert together == alone
    assert [r.summary for r in results] == alone


class GatedSeq2Seq(GatedSummarizer):
    """A real model behind the gate, recording call sizes."""

    def __init__(self, model: Seq2SeqSummarizer) -> None:
        super().__init__("tiny", model.max_input_tokens)
        self.model = model

    def check_options(self, options: SummaryOptions) -> None:
        self.model.check_options(options)

    def summarize(self, texts: Sequence[str], options: SummaryOptions) -> list[Summary]:
        if any(HOLD in text for text in texts):
            self.holding.set()
            assert self.gate.wait(30)
            return [Summary("held", 1, 1)]
        self.sizes.append(len(texts))
        return self.model.summarize(texts, options)


def test_docsum_batch_runner_plans_batches_by_tokens_and_beams() -> None:
    from models.runner import summarize_documents

    fake = GatedSummarizer(max_input_tokens=10_000)
    documents = [Document(str(i), "word " * (200 if i % 2 else 20)) for i in range(8)]  # ~252 and ~27 tokens
    results = list(summarize_documents(fake, documents, SummaryOptions(), batch_size=8, batch_tokens=600))
    assert [r.id for r in results] == [str(i) for i in range(8)]
    assert fake.sizes == [2, 2, 4]  # longest first: 2 x 252 tokens fit 600, then the short ones together
    fake.sizes.clear()
    list(summarize_documents(fake, documents, SummaryOptions(num_beams=2), batch_size=8, batch_tokens=600))
    assert fake.sizes == [1, 1, 1, 1, 4]  # two beams: one long document per call
