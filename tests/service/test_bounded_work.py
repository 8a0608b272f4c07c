"""Work one request may cause is bounded and refused up front; work nobody waits for stops inside the model call.

On a real tiny BART (64-token window) whose decoding steps are slowed to 50 ms, so that
a call left to finish would hold the model for seconds.
"""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import Summary, SummaryOptions
from service.app import create_app
from service.engine import Engine
from service.settings import Settings
from tests.checkpoints import CORPUS

STEP_S = 0.05
GREEDY = SummaryOptions(max_tokens=8, num_beams=1)


def test_documents_over_the_work_limits_are_refused_with_their_numbers(tiny_bart_dir: Path) -> None:
    settings = Settings(models=(f"tiny={tiny_bart_dir}",), dtype="float32", max_chunks=5, max_sentences=100)
    long_text = " ".join(CORPUS * 3)
    with TestClient(create_app(settings)) as client:
        refused = client.post("/v1/summarize", json={"text": long_text, "model": "tiny", "max_tokens": 8})
        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "too_many_chunks" and error["max_chunks"] == 5 and error["chunks"] > 5
        assert error["param"] == "text"
        head = client.post("/v1/summarize", json={"text": long_text, "model": "tiny", "truncation": "head"})
        assert head.status_code == 200

        sentences = client.post("/v1/summarize", json={"text": "One. Two. Three. " * 40})
        assert sentences.status_code == 422
        assert sentences.json()["error"] | {"message": ""} == {
            "code": "too_many_sentences",
            "message": "",
            "param": "text",
            "sentences": 120,
            "max_sentences": 100,
        }

        batch = client.post(
            "/v1/summarize/batch",
            json={"model": "tiny", "max_tokens": 6, "documents": [{"id": "long", "text": long_text}, *SHORT_DOCS]},
        )
        results = {r["id"]: r for r in batch.json()["results"]}
        assert results["long"]["error"]["code"] == "too_many_chunks"
        assert all(results[d["id"]]["summary"] for d in SHORT_DOCS)


SHORT_DOCS = [{"id": str(i), "text": text} for i, text in enumerate(CORPUS[:3])]


@pytest.fixture
def slow_tiny(tiny_bart_dir: Path) -> Seq2SeqSummarizer:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    model.max_chunks = None
    model.map_batch_tokens = 4 * model.max_input_tokens  # four chunks per map call: many calls
    model.generator.model.get_decoder().register_forward_hook(lambda *_: time.sleep(STEP_S))
    return model


def engine_for(model: Seq2SeqSummarizer) -> Engine:
    registry = ModelRegistry(BUILTIN_MODELS)
    registry.add(model)
    return Engine(registry, batch_wait_ms=0)


def counting_calls(model: Seq2SeqSummarizer) -> list[int]:
    """Map and reduce calls made so far (each a generate call of up to four chunks)."""
    calls = [0]
    original = model.generate_texts

    def counted(texts: Any, options: SummaryOptions) -> list[str]:
        calls[0] += 1
        return original(texts, options)

    model.generate_texts = counted  # type: ignore[method-assign]
    return calls


async def abandon_and_time_the_next(engine: Engine, started: threading.Event, first: list[str]) -> float:
    """Start ``first``, cancel it once its model call runs, and time a short request behind it."""
    task = asyncio.ensure_future(engine.summarize("tiny", first, GREEDY))
    assert await asyncio.to_thread(started.wait, 30)
    task.cancel()
    began = time.monotonic()
    [summary] = await engine.summarize("tiny", [CORPUS[0]], GREEDY)
    assert summary.summary
    return time.monotonic() - began


@pytest.mark.anyio
async def test_an_abandoned_chunked_document_stops_at_its_next_step(slow_tiny: Seq2SeqSummarizer) -> None:
    calls = counting_calls(slow_tiny)
    document = " ".join(CORPUS * 4)
    started = threading.Event()
    slow_tiny.generator.model.get_decoder().register_forward_hook(lambda *_: started.set())
    engine = engine_for(slow_tiny)
    try:
        waited = await abandon_and_time_the_next(engine, started, [document])
    finally:
        engine.close()
    # Left alone: 12+ map calls of 8 slowed steps each, about 5 s; stopped, one step and the short request.
    assert calls[0] == 1, "no further map call may start"
    assert waited < 2.0


@pytest.mark.anyio
async def test_an_abandoned_single_document_stops_at_its_next_step(slow_tiny: Seq2SeqSummarizer) -> None:
    started = threading.Event()
    slow_tiny.generator.model.get_decoder().register_forward_hook(lambda *_: started.set())
    engine = engine_for(slow_tiny)
    options = SummaryOptions(min_tokens=60, max_tokens=60, num_beams=1)  # 60 slowed steps: 3 s left alone
    try:
        task = asyncio.ensure_future(engine.summarize("tiny", [CORPUS[1]], options))
        assert await asyncio.to_thread(started.wait, 30)
        task.cancel()
        began = time.monotonic()
        [summary] = await engine.summarize("tiny", [CORPUS[0]], GREEDY)
        waited = time.monotonic() - began
    finally:
        engine.close()
    assert summary.summary and waited < 1.5


@pytest.mark.anyio
async def test_a_shared_call_runs_on_for_the_caller_still_waiting(slow_tiny: Seq2SeqSummarizer) -> None:
    """Two callers in one model call: the one who leaves does not take the other's summary along."""
    alone: list[Summary] = slow_tiny.summarize([CORPUS[2]], GREEDY)
    registry = ModelRegistry(BUILTIN_MODELS)
    registry.add(slow_tiny)
    engine = Engine(registry, batch_wait_ms=200)  # both requests join one call
    try:
        leaving = asyncio.ensure_future(engine.summarize("tiny", [CORPUS[1]], GREEDY))
        staying = asyncio.ensure_future(engine.summarize("tiny", [CORPUS[2]], GREEDY))
        await asyncio.sleep(0.3)  # the call has begun: 8 steps of 50 ms
        leaving.cancel()
        assert await staying == alone
    finally:
        engine.close()
