"""Batch work keeps its guaranteed share of a model's time under a constant stream of interactive requests."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Sequence

import pytest
from pydantic import ValidationError

from models.runner import Document
from models.types import EventSink, Summary, SummaryOptions
from models.yielding import step_done
from service import fairness
from service.fairness import TimeShare
from service.settings import Settings
from tests.fakes import FakeSummarizer
from tests.service.engine_helpers import make_engine

# -- the deficit, on a clock the test moves ----------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_no_share_never_owes_batch_work() -> None:
    clock = Clock()
    share = TimeShare(0.0, tolerance_s=1.0, clock=clock)
    share.switch(0.0)  # interactive work, for a long time
    clock.now = 100.0
    assert not share.owed()


def test_batch_work_is_owed_past_the_tolerance_until_it_has_caught_up() -> None:
    clock = Clock()
    share = TimeShare(0.25, tolerance_s=1.0, clock=clock)
    share.switch(0.0)  # interactive calls while batch work waits: it falls behind by 0.25 s per second
    clock.now = 3.9
    assert not share.owed()  # a burst of interactive work still goes first
    clock.now = 4.1
    assert share.owed()
    share.switch(1.0)  # batch work runs and pays back 0.75 s per second
    clock.now = 5.0
    assert share.owed()  # owed until paid back, not just back under the tolerance
    clock.now = 5.5
    assert not share.owed()
    share.switch(0.5)  # a call half of batch documents pays back at 0.25 s per second less the share
    assert not share.owed()


def test_credit_does_not_pile_up_and_forget_starts_afresh() -> None:
    clock = Clock()
    share = TimeShare(0.5, tolerance_s=1.0, clock=clock)
    share.switch(1.0)  # batch work alone for a long time banks nothing
    clock.now = 1000.0
    share.switch(0.0)
    clock.now = 1002.1
    assert share.owed()
    share.forget()  # no batch work waits any more
    assert not share.owed()


def test_the_share_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().batch_share == 0.25
    monkeypatch.setenv("DOCSUM_BATCH_SHARE", "0.5")
    assert Settings().batch_share == 0.5
    monkeypatch.setenv("DOCSUM_BATCH_SHARE", "1")  # batch work first for ever would starve interactive requests
    with pytest.raises(ValidationError):
        Settings()


# -- the engine, with a fake model that takes real (sleeping) time per decoding step ------------

STEP_S = 0.005
STEPS = 8


class TimedSummarizer(FakeSummarizer):
    """Every call decodes STEPS steps of STEP_S each, with a pause point after each (as generate has); the time
    of each step is booked to job or interactive work by its texts."""

    def __init__(self) -> None:
        super().__init__("fake", 50)
        self.booked = {"job": 0.0, "ask": 0.0}
        self.lock = threading.Lock()

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        kind = "job" if all(text.startswith("job") for text in texts) else "ask"
        for _ in range(STEPS):
            started = time.perf_counter()
            time.sleep(STEP_S)
            with self.lock:
                self.booked[kind] += time.perf_counter() - started
            step_done()
        return super().summarize(texts, options, on_event=on_event)


async def _under_interactive_load(batch_share: float, seconds: float = 2.0) -> tuple[float, list[float], int]:
    """The job's share of the model's time, the interactive latencies, and the job documents done, while two
    clients keep an interactive request waiting at all times."""
    fake = TimedSummarizer()
    engine = make_engine(fake, batch_size=4, batch_share=batch_share, queue_size=1024)
    latencies: list[float] = []
    done = 0

    async def client(stop: float) -> None:
        while time.monotonic() < stop:
            started = time.monotonic()
            # Other options than the job's: no job document rides along in an interactive call.
            await engine.summarize("fake", ["ask something"], SummaryOptions(max_tokens=7))
            latencies.append(time.monotonic() - started)

    async def job_part(first: int) -> None:
        nonlocal done
        documents = [Document(str(i), f"job document {i}") for i in range(first, first + 4)]
        await engine.summarize_documents("fake", documents, SummaryOptions())
        done += len(documents)

    try:
        stop = time.monotonic() + seconds
        job = [asyncio.ensure_future(job_part(first)) for first in range(0, 800, 4)]
        await asyncio.gather(client(stop), client(stop))
        booked = dict(fake.booked)
        for part in job:
            part.cancel()
        await asyncio.gather(*job, return_exceptions=True)
    finally:
        engine.close()
    return booked["job"] / (booked["job"] + booked["ask"]), latencies, done


@pytest.mark.slow  # runs a stream of requests for seconds
@pytest.mark.anyio
async def test_batch_work_keeps_its_share_under_a_constant_stream_of_interactive_requests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(fairness, "TOLERANCE_S", 0.05)
    starved, _, starved_done = await _under_interactive_load(0.0)
    share, latencies, done = await _under_interactive_load(0.5)
    # Interactive-first alone: the job got a step in between interactive calls, nothing more.
    assert starved < 0.3
    assert share >= 0.4, (share, starved, done, starved_done)
    assert done > 2 * starved_done
    # Interactive requests still go through, each waiting a bounded time: about the tolerance / (1 - share)
    # for batch work, plus its own call (STEPS x STEP_S), plus scheduling on a busy machine.
    assert len(latencies) >= 10
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    assert statistics.median(latencies) < 0.5
