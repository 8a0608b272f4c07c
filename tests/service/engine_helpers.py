"""Shared by the engine's tests (test_engine*.py): a fake model the test can hold, and waits on the queue.

Every test makes its scenario deterministic by holding the model: a gated fake
blocks inside its first call until the test has queued what it wants, then lets
go. Nothing here asserts on timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from models.catalog import BUILTIN_MODELS, ModelRegistry
from models.types import Summary, SummaryOptions
from service.engine import Engine
from tests.fakes import FakeSummarizer

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
