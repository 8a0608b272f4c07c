"""The engine: cross-request batching, token budgets, and the model's one worker thread.

Priority is in test_engine_priority.py, queue limits, dropped work and failures in
test_engine_limits.py; the gated fake they all hold the model with is in engine_helpers.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest

from models.loading import LoadSettings
from models.runner import Document
from models.seq2seq import Seq2SeqSummarizer
from models.types import Summary, SummaryOptions
from service.errors import ShuttingDown
from tests.checkpoints import CORPUS
from tests.service.engine_helpers import HOLD, GatedSummarizer, hold, make_engine, queued

pytestmark = pytest.mark.anyio


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


async def test_batches_follow_the_token_budget_and_group_similar_lengths() -> None:
    fake = GatedSummarizer(max_input_tokens=10_000)
    # Texts of 8 and 80 tokens (the fake counts words); 200 padded tokens fit two long ones or many short ones.
    engine = make_engine(fake, batch_size=8, batch_tokens=200)
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
        assert max(fake.count_input_tokens(call)) * len(call) <= 200
    assert sorted(map(len, calls)) == [1, 2, 4]


async def test_a_closed_engine_refuses_with_shutting_down_not_a_bare_error() -> None:
    engine = make_engine(GatedSummarizer())
    engine.close()
    with pytest.raises(ShuttingDown) as refused:
        await engine.summarize("fake", ["text"], SummaryOptions())
    assert (refused.value.status, refused.value.code) == (503, "shutting_down")


async def test_a_model_is_only_ever_used_by_its_own_worker_thread() -> None:
    fake = GatedSummarizer()
    engine = make_engine(fake, batch_size=2)
    try:
        await asyncio.gather(*(engine.summarize("fake", [f"text {i}"], SummaryOptions()) for i in range(9)))
    finally:
        engine.close()
    assert fake.max_in_flight == 1
    assert fake.threads == {"docsum-fake"}


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

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.model.count_input_tokens(texts)

    def rows_per_document(self, options: SummaryOptions) -> int:
        return self.model.rows_per_document(options)

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
    documents = [Document(str(i), "word " * (200 if i % 2 else 20)) for i in range(8)]  # 200 and 20 tokens
    results = list(summarize_documents(fake, documents, SummaryOptions(), batch_size=8, batch_tokens=500))
    assert [r.id for r in results] == [str(i) for i in range(8)]
    assert fake.sizes == [2, 2, 4]  # longest first: 2 x 200 tokens fit 500, then the short ones together
    fake.sizes.clear()
    list(summarize_documents(fake, documents, SummaryOptions(num_beams=2), batch_size=8, batch_tokens=500))
    assert fake.sizes == [1, 1, 1, 1, 4]  # two beams: one long document per call
