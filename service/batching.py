"""One model's queue and the worker thread that serves it: how model calls are formed and run.

The worker takes the most urgent item (interactive before batch work, then arrival
order), waits up to ``batch_wait_s`` after the latest arrival for company (at most
``_MAX_WAIT_WINDOWS`` windows), and fills one call with queued items of the same
options, closest in length first, within ``batch_size`` documents and
``batch_tokens`` padded tokens x beams (rows the decoder carries), so the model pads
little and beam search holds no more keys and values than greedy search does.
Background calls pause between decoding steps for interactive items that arrive
meanwhile (``models.yielding``), unless batch work is owed its guaranteed share of the
model's time (``service.fairness``). ``service.engine`` is the async face that feeds
these workers.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from typing import Any

from models.catalog import ModelRegistry
from models.errors import ModelUnavailable
from models.resources import return_free_heap
from models.runner import beams_of, count_tokens, estimate_tokens
from models.types import Summarizer, SummaryOptions
from models.yielding import Cancelled, between_steps, stop_when
from service.errors import Overloaded
from service.fairness import TimeShare

logger = logging.getLogger(__name__)

# While requests keep arriving, waiting for company stops after this many windows.
_MAX_WAIT_WINDOWS = 5


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How a worker forms model calls and how much it queues (``service.settings``)."""

    batch_size: int  # documents per model call, at most
    batch_tokens: int  # padded input tokens x beams per model call, at most
    batch_wait_s: float  # how long to wait after the latest arrival for company
    queue_size: int  # queued documents per model before Overloaded (429)
    batch_share: float = 0.0  # of the model's time, guaranteed to batch work (service.fairness)


class Priority(enum.IntEnum):
    """Lower runs first. Interactive requests overtake queued batch and job work."""

    INTERACTIVE = 0
    BATCH = 1


@dataclass(eq=False)
class Job:
    """One request: its documents' results are gathered here until all are in."""

    priority: int
    options: SummaryOptions
    size: int
    future: Future[list[Any]]
    on_error: Callable[[int, Exception], Any] | None  # per-document errors (batch requests); None: the job fails
    on_event: Any = None  # a progress sink (streaming): such a job gets model calls of its own
    results: list[Any] = field(default_factory=list)
    remaining: int = 0
    cancelled: bool = False

    def __post_init__(self) -> None:
        self.results = [None] * self.size
        self.remaining = self.size

    @property
    def done(self) -> bool:
        return self.cancelled or self.future.done()


@dataclass(eq=False)
class Item:
    job: Job
    index: int
    text: str
    seq: int
    arrived: float
    tokens: int | None = None


class ModelWorker:
    """One model's queue and the thread that serves it."""

    def __init__(self, model: str, registry: ModelRegistry, limits: BatchLimits, sequence: Iterator[int]) -> None:
        self.model = model
        self.registry = registry
        self.limits = limits
        self.sequence = sequence  # arrival order, shared by all models' workers
        self.items: list[Item] = []
        self.loads: list[Future[Summarizer]] = []
        self.cond = threading.Condition()
        self.closed = False
        self.seconds_per_document = 1.0
        self.summarizer: Summarizer | None = None
        self.share = TimeShare(limits.batch_share)
        self.thread = threading.Thread(target=self._run, name=f"docsum-{model}", daemon=True)
        self.thread.start()

    # -- called from the event loop --------------------------------------------------------

    def submit(self, job: Job, texts: Sequence[str]) -> None:
        with self.cond:
            if self.closed:
                raise RuntimeError("the engine is closed")
            pending = len(self.items)
            if pending and pending + len(texts) > self.limits.queue_size:
                wait = max(1, math.ceil(pending * self.seconds_per_document))
                raise Overloaded(
                    f"model {self.model!r} has {pending} documents queued; retry in about {wait} s",
                    retry_after=min(wait, 600),
                )
            now = time.monotonic()
            for index, text in enumerate(texts):
                self.items.append(Item(job, index, text, next(self.sequence), now))
            self.cond.notify()

    def request_load(self) -> Future[Summarizer]:
        future: Future[Summarizer] = Future()
        with self.cond:
            if self.closed:
                raise RuntimeError("the engine is closed")
            self.loads.append(future)
            self.cond.notify()
        return future

    def discard(self, job: Job) -> None:
        """Drop a cancelled job's queued documents at once, freeing their places."""
        with self.cond:
            job.cancelled = True
            self.items = [item for item in self.items if item.job is not job]

    def close(self) -> None:
        with self.cond:
            self.closed = True
            items, self.items = self.items, []
            loads, self.loads = self.loads, []
            self.cond.notify_all()
        for job in {id(item.job): item.job for item in items}.values():
            job.future.cancel()
        for load in loads:
            load.cancel()

    # -- the worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            taken = self._next()
            if taken is None:
                return
            loads, batch = taken
            try:
                summarizer = self.registry.get(self.model)
            except Exception as exc:
                for load in loads:
                    _settle(load, exc=exc)
                for item in batch:
                    self._fail_job(item.job, exc)
                continue
            self.summarizer = summarizer
            for load in loads:
                _settle(load, summarizer)
            if batch:
                started = time.monotonic()
                self._run_batch(summarizer, batch)
                elapsed = (time.monotonic() - started) / len(batch)
                self.seconds_per_document = 0.8 * self.seconds_per_document + 0.2 * elapsed
                if not self.items:  # unlocked: a stale answer costs one trim, or skips one
                    return_free_heap()

    def _next(self) -> tuple[list[Future[Summarizer]], list[Item]] | None:
        """Wait for work; return pending load requests and the next batch of items."""
        limits = self.limits
        with self.cond:
            while True:
                self._drop_finished()
                if self.closed:
                    return None
                if self.loads:
                    loads, self.loads = self.loads, []
                    return loads, []
                if self.items:
                    break
                self.cond.wait()
            if all(item.job.priority == Priority.INTERACTIVE for item in self.items):
                self.share.forget()  # no batch work waits: it is owed nothing
            # Wait a little for company while requests keep arriving, unless a batch is already full.
            head = self._head()
            give_up = head.arrived + limits.batch_wait_s * _MAX_WAIT_WINDOWS
            while not self.closed and not self.loads:
                compatible = [i for i in self.items if i.job.options == head.job.options]
                if len(compatible) >= limits.batch_size:
                    break
                latest = max(item.arrived for item in self.items)
                deadline = min(latest + limits.batch_wait_s, give_up)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
                self._drop_finished()
                if not self.items:
                    return [], []
                head = self._head()
            batch = self._pick(head)
            taken = {id(item) for item in batch}
            self.items = [item for item in self.items if id(item) not in taken]
            return [], batch

    def _head(self) -> Item:
        """The most urgent item; the oldest batch item while batch work is owed its share of the model's time."""
        if self.share.owed():
            owed = [item for item in self.items if item.job.priority > Priority.INTERACTIVE]
            if owed:
                return min(owed, key=_urgency)
        return min(self.items, key=_urgency)

    def _pick(self, head: Item, *, riders: bool = True) -> list[Item]:
        """The head item and the queued items most like it in length, within the budgets.

        Candidates share the head's options and priority; among them, those closest
        in length join first, so a call holds similar lengths and pads little.
        With ``riders``, lower-priority work fills the room left.
        """
        limits = self.limits
        if head.job.on_event is not None:
            return [item for item in self.items if item.job is head.job][: limits.batch_size]
        candidates = [
            item
            for item in self.items
            if item is not head
            and item.job.options == head.job.options
            and item.job.priority == head.job.priority
            and item.job.on_event is None
        ]
        if riders and len(candidates) + 1 < limits.batch_size:  # room left: lower-priority work may ride along
            candidates += [
                item
                for item in self.items
                if item.job.options == head.job.options
                and item.job.priority > head.job.priority
                and item.job.on_event is None
            ]
        size = self._tokens(head)
        candidates.sort(key=lambda item: (abs(self._tokens(item) - size), item.seq))
        rows = beams_of(self.summarizer, head.job.options) if self.summarizer is not None else 1
        batch, longest = [head], size
        for item in candidates:
            if len(batch) >= limits.batch_size:
                break
            longest_with = max(longest, self._tokens(item))
            if longest_with * rows * (len(batch) + 1) > limits.batch_tokens:
                continue
            batch.append(item)
            longest = longest_with
        return batch

    def _tokens(self, item: Item) -> int:
        """The item's input tokens, counted once by the model's own tokenizer (this is its thread)."""
        if item.tokens is None:
            if self.summarizer is None:
                item.tokens = estimate_tokens(item.text, None)
            else:
                [item.tokens] = count_tokens(self.summarizer, [item.text])
        return item.tokens

    def _drop_finished(self) -> None:
        if any(item.job.done for item in self.items):
            self.items = [item for item in self.items if not item.job.done]

    def _run_batch(self, summarizer: Summarizer, batch: list[Item]) -> None:
        live = [item for item in batch if not item.job.done]
        if not live:
            return
        # Longest first, as the library runner does: similar lengths end up side by side.
        live.sort(key=lambda item: len(item.text), reverse=True)
        options = live[0].job.options
        try:
            summarizer.check_options(options)
        except Exception as exc:  # the same options for every item: each request fails as a whole
            for item in live:
                self._fail_job(item.job, exc)
            return
        batch_documents = sum(item.job.priority > Priority.INTERACTIVE for item in live)
        background = batch_documents == len(live)
        started = time.perf_counter()
        try:
            # Batch work's share of the model's time (service.fairness) is charged for the call's batch part.
            with self.share.charging(batch_documents / len(live)):
                summaries = self._call(summarizer, live, options, background)
        except Cancelled:
            logger.debug("a call of %d documents stopped: its callers have gone, or the engine closed", len(live))
            for item in live:
                self._fail_job(item.job, ModelUnavailable(f"model {self.model!r} was shut down", param="model"))
            return
        except Exception as exc:
            if len(live) == 1:
                self._fail_item(live[0], exc)
                return
            logger.warning("a batch of %d failed; retrying its documents one by one", len(live), exc_info=True)
            for item in live:
                self._run_batch(summarizer, [item])
            return
        logger.debug(
            "%s call: %d documents, longest %d tokens, %.2f s",
            "background" if background else "interactive",
            len(live),
            max(self._tokens(item) for item in live),
            time.perf_counter() - started,
        )
        for item, summary in zip(live, summaries, strict=True):
            self._complete(item, summary)

    def _call(self, summarizer: Summarizer, live: list[Item], options: SummaryOptions, background: bool) -> list[Any]:
        """The model call. Background work pauses between decoding steps for interactive requests that
        arrive meanwhile; any call stops at its next pause point once every caller in it has gone
        (a call shared with callers still waiting runs on: rows are not cut one by one)."""
        texts = [item.text for item in live]
        on_event = live[0].job.on_event
        jobs = list({id(item.job): item.job for item in live}.values())

        def abandoned() -> bool:
            return self.closed or all(job.done for job in jobs)

        pause = between_steps(lambda: self._serve_urgent(summarizer), pending=self._urgent_waiting)
        with pause if background else contextlib.nullcontext(), stop_when(abandoned):
            if on_event is not None:
                return summarizer.summarize(texts, options, on_event=on_event)
            return summarizer.summarize(texts, options)

    def _urgent_waiting(self) -> bool:
        """Asked after each step, from the model's worker threads: cheap, and unlocked (a stale answer costs a step)."""
        if self.share.owed():
            return False
        return any(item.job.priority == Priority.INTERACTIVE and not item.job.done for item in self.items)

    def _serve_urgent(self, summarizer: Summarizer) -> None:
        """Between two decoding steps of background work: run the interactive requests waiting now, unless batch
        work is owed its share of the model's time."""
        if self.share.owed():
            return
        with self.cond:
            self._drop_finished()
            urgent = [item for item in self.items if item.job.priority == Priority.INTERACTIVE]
            if not urgent:
                return
            batch = self._pick(min(urgent, key=_urgency), riders=False)
            taken = {id(item) for item in batch}
            self.items = [item for item in self.items if id(item) not in taken]
        self._run_batch(summarizer, batch)

    def _complete(self, item: Item, value: Any) -> None:
        job = item.job
        if job.done:
            return
        job.results[item.index] = value
        job.remaining -= 1
        if job.remaining == 0:
            _settle(job.future, job.results)

    def _fail_item(self, item: Item, exc: Exception) -> None:
        if item.job.on_error is not None:
            self._complete(item, item.job.on_error(item.index, exc))
        else:
            self._fail_job(item.job, exc)

    def _fail_job(self, job: Job, exc: Exception) -> None:
        """The whole request fails: the model is unavailable, or the options are not for it."""
        if not job.done:
            _settle(job.future, exc=exc)


def _urgency(item: Item) -> tuple[int, int]:
    return item.job.priority, item.seq


def _settle(future: Future[Any], value: Any = None, exc: BaseException | None = None) -> None:
    """Resolve a future unless its caller already gave up on it (cancelled concurrently)."""
    with contextlib.suppress(InvalidStateError):
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
