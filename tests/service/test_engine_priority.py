"""The engine's priority: interactive requests go ahead of batch work, even between decoding steps."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from models.runner import Document
from models.types import Summary, SummaryOptions
from models.yielding import step_done
from service.engine import Priority
from tests.fakes import FakeSummarizer
from tests.service.engine_helpers import HOLD, GatedSummarizer, hold, make_engine, queued

pytestmark = pytest.mark.anyio


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
