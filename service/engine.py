"""Runs model work off the event loop: per model, one worker thread fed by a bounded queue.

A model and its tokenizer are only ever touched by their own worker thread, so
two requests can never use them at once (fast tokenizers fail with "Already
borrowed"), while different models work in parallel. Loading happens on that
thread too, on first use.

Each document of each request is one item in its model's queue, and the worker
fills each model call with queued items of the same options and similar lengths
(``service.batching``), so requests from different clients share model calls; each
still gets back exactly its own results, in order. A batch that fails is retried
one document at a time, so one bad document fails alone. An interactive request
that arrives while batch or job work runs does not wait for that call to end: it is
served between two of its decoding steps (``models.yielding``), unless batch work is
owed its guaranteed share (``batch_share``) of the model's time (``service.fairness``).

The queue holds at most ``queue_size`` documents per model: past that a request
is refused with :class:`service.errors.Overloaded` (429, ``Retry-After``
estimated from the recent pace). A request whose caller went away (its task was
cancelled, e.g. on client disconnect) leaves the queue at once; a running model call
whose callers have all gone stops at its next pause point (a decoding step, an encoder
layer, a map chunk: ``models.yielding``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from models.catalog import ModelRegistry
from models.runner import Document, DocumentResult, failed_result, precheck
from models.types import Summarizer, Summary, SummaryOptions
from service.batching import ModelWorker
from service.errors import ShuttingDown
from service.observability.telemetry import Telemetry
from service.tickets import BatchLimits, Priority, Ticket

__all__ = ["Engine", "Priority"]

logger = logging.getLogger(__name__)


class Engine:
    """The async face of the model workers: ``summarize``, ``summarize_documents``, ``load``, ``close``."""

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        batch_size: int = 16,
        max_chars: int | None = None,
        batch_tokens: int = 16384,
        batch_wait_ms: float = 10.0,
        queue_size: int = 256,
        batch_share: float = 0.25,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.registry = registry
        self.telemetry = telemetry or Telemetry()  # metrics and spans of the model work (service.observability)
        self.max_chars = max_chars
        self.limits = BatchLimits(batch_size, batch_tokens, batch_wait_ms / 1000, queue_size, batch_share)
        self._sequence = itertools.count()
        self._workers: dict[str, ModelWorker] = {}
        self._lock = threading.Lock()
        self._closed = False
        # Residency (models.residency): a model with documents queued is busy, never unloaded; an
        # unloaded model's worker drops its reference; idle models are looked for now and then.
        registry.residency.busy = self._busy
        registry.on_unload(self._forget)
        self._stop = threading.Event()
        idle = registry.residency.idle_seconds
        if idle is not None:
            sweeping = threading.Thread(target=self._sweep, args=(idle,), name="docsum-unload-idle", daemon=True)
            sweeping.start()

    async def summarize(
        self,
        model: str,
        texts: Sequence[str],
        options: SummaryOptions,
        *,
        priority: int = Priority.INTERACTIVE,
        on_event: Any = None,
    ) -> list[Summary]:
        """One summary per text, in order; the first failing text fails the call.

        ``on_event`` is passed to ``Summarizer.summarize`` (progress and token events,
        called on the worker thread); such a request is not batched with others.
        """
        if not texts:
            return []
        ticket = Ticket(int(priority), options, len(texts), Future(), on_error=None, on_event=on_event)
        results: list[Summary] = await self._submit(model, ticket, texts)
        self.telemetry.documents(model, results)
        return results

    async def summarize_documents(
        self,
        model: str,
        documents: Sequence[Document],
        options: SummaryOptions,
        *,
        priority: int = Priority.BATCH,
    ) -> list[DocumentResult]:
        """One result per document, in order, as ``models.runner.summarize_documents`` gives them."""
        results: list[DocumentResult | None] = [None] * len(documents)
        runnable: list[int] = []
        for index, document in enumerate(documents):
            error = precheck(document, self.max_chars)
            if error is None:
                runnable.append(index)
            else:
                results[index] = DocumentResult(document.id, error=error)
        if runnable:
            chosen = [documents[i] for i in runnable]
            ticket = Ticket(
                int(priority), options, len(chosen), Future(), on_error=lambda i, exc: failed_result(chosen[i], exc)
            )
            outcomes = await self._submit(model, ticket, [d.text for d in chosen])
            for index, document, outcome in zip(runnable, chosen, outcomes, strict=True):
                results[index] = (
                    outcome if isinstance(outcome, DocumentResult) else DocumentResult(document.id, summary=outcome)
                )
        finished = [result for result in results if result is not None]
        self.telemetry.documents(model, finished)
        return finished

    async def load(self, model: str) -> Summarizer:
        self.registry.spec(model)  # an unknown name fails here, before any thread is made
        self.registry.check_loadable(model)
        return await asyncio.wrap_future(self._worker(model).request_load())

    def close(self, wait_s: float = 5.0) -> None:
        """Refuse new work, drop queued work, and stop running calls at their next pause point
        (waiting up to ``wait_s`` for them: a process must not exit while a model call runs)."""
        self._stop.set()
        with self._lock:
            self._closed = True
            workers, self._workers = self._workers, {}
        for worker in workers.values():
            worker.close()
        deadline = time.monotonic() + wait_s
        for worker in workers.values():
            worker.thread.join(max(0.0, deadline - time.monotonic()))

    def _busy(self, model: str) -> bool:
        worker = self._workers.get(model)
        return worker is not None and bool(worker.items)  # what runs holds its model through the registry

    def _forget(self, model: str) -> None:
        worker = self._workers.get(model)
        if worker is not None:
            worker.forget_model()

    def _sweep(self, idle_seconds: float) -> None:
        """Unload idle models, looking a few times per ``idle_seconds`` (at most every 30 s)."""
        interval = min(30.0, max(0.05, idle_seconds / 4))
        while not self._stop.wait(interval):
            try:
                self.registry.unload_idle()
            except Exception:  # never let the sweeper die; the next look tries again
                logger.exception("unloading idle models failed")

    def queued(self, model: str) -> int:
        """Documents waiting for ``model`` (not counting the running batch)."""
        worker = self._workers.get(model)
        return len(worker.items) if worker is not None else 0

    async def _submit(self, model: str, ticket: Ticket, texts: Sequence[str]) -> Any:
        self.registry.spec(model)
        self.registry.check_loadable(model)
        worker = self._worker(model)
        ticket.trace = self.telemetry.capture()
        worker.submit(ticket, texts)
        try:
            return await asyncio.wrap_future(ticket.future)
        except asyncio.CancelledError:
            worker.discard(ticket)
            raise
        except Exception:  # the model refused or broke on the request as a whole
            self.telemetry.failed(model, len(texts))
            raise

    def _worker(self, model: str) -> ModelWorker:
        with self._lock:
            if self._closed:
                raise ShuttingDown("the engine is closed; retry on another replica")
            worker = self._workers.get(model)
            if worker is None:
                worker = ModelWorker(model, self.registry, self.limits, self._sequence, self.telemetry)
                self._workers[model] = worker
            return worker
