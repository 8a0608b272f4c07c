"""Runs model work off the event loop: one worker thread per model.

A model and its tokenizer are only ever touched by their own worker thread, so
two requests can never use them at once (fast tokenizers fail with "Already
borrowed"), while different models work in parallel. Loading happens on that
thread too, on first use.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from models.catalog import ModelRegistry
from models.runner import Document, DocumentResult, summarize_documents
from models.types import EventSink, Summarizer, Summary, SummaryOptions

T = TypeVar("T")


class Engine:
    def __init__(self, registry: ModelRegistry, *, batch_size: int, max_chars: int) -> None:
        self.registry = registry
        self.batch_size = batch_size
        self.max_chars = max_chars
        self._workers: dict[str, ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    async def summarize(
        self, model: str, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        """``on_event`` is called on the worker thread: hand events to the loop thread-safely."""

        def work(summarizer: Summarizer) -> list[Summary]:
            summarizer.check_options(options)
            return summarizer.summarize(texts, options, on_event=on_event)

        return await self._run(model, work)

    async def summarize_documents(
        self, model: str, documents: Sequence[Document], options: SummaryOptions
    ) -> list[DocumentResult]:
        def work(summarizer: Summarizer) -> list[DocumentResult]:
            results = summarize_documents(
                summarizer, documents, options, batch_size=self.batch_size, max_chars=self.max_chars
            )
            return list(results)

        return await self._run(model, work)

    async def load(self, model: str) -> Summarizer:
        return await self._run(model, lambda summarizer: summarizer)

    def close(self) -> None:
        with self._lock:
            workers, self._workers = self._workers, {}
        for worker in workers.values():
            worker.shutdown(wait=False, cancel_futures=True)

    async def _run(self, model: str, work: Callable[[Summarizer], T]) -> T:
        self.registry.spec(model)  # an unknown name fails here, before any thread is made
        future = self._worker(model).submit(lambda: work(self.registry.get(model)))
        return await asyncio.wrap_future(future)

    def _worker(self, model: str) -> ThreadPoolExecutor:
        with self._lock:
            worker = self._workers.get(model)
            if worker is None:
                worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"docsum-{model}")
                self._workers[model] = worker
            return worker
