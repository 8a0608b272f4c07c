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
import functools
import logging
import math
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, InvalidStateError
from typing import Any

from models.catalog import ModelRegistry
from models.errors import ModelUnavailable
from models.planning import CallBudget, estimate_tokens, fill_call, input_tokens, run_or_split
from models.resources import return_free_heap
from models.types import Summarizer, SummaryOptions
from models.yielding import Cancelled, between_steps, stop_when
from service.errors import Overloaded, ShuttingDown
from service.fairness import TimeShare
from service.observability.telemetry import Telemetry
from service.overlap import OverlappingCalls, overlap_for
from service.tickets import BatchLimits, Item, Priority, Ticket

logger = logging.getLogger(__name__)

# While requests keep arriving, waiting for company stops after this many windows.
_MAX_WAIT_WINDOWS = 5


class ModelWorker:
    """One model's queue and the thread that serves it."""

    def __init__(
        self, model: str, registry: ModelRegistry, limits: BatchLimits, sequence: Iterator[int], telemetry: Telemetry
    ) -> None:
        self.model = model
        self.telemetry = telemetry
        self.registry = registry
        self.limits = limits
        self.sequence = sequence  # arrival order, shared by all models' workers
        self.items: list[Item] = []
        self.loads: list[Future[Summarizer]] = []
        self.cond = threading.Condition()
        self.closed = False
        self.seconds_per_document = 1.0
        self.summarizer: Summarizer | None = None
        self.overlap: OverlappingCalls | None = None
        self.share = TimeShare(limits.batch_share)
        self.thread = threading.Thread(target=self._run, name=f"docsum-{model}", daemon=True)
        self.thread.start()

    # -- called from the event loop --------------------------------------------------------

    def submit(self, ticket: Ticket, texts: Sequence[str]) -> None:
        with self.cond:
            if self.closed:
                raise ShuttingDown("the engine is closed; retry on another replica")
            pending = len(self.items)
            if pending and pending + len(texts) > self.limits.queue_size:
                wait = max(1, math.ceil(pending * self.seconds_per_document))
                raise Overloaded(
                    f"model {self.model!r} has {pending} documents queued; retry in about {wait} s",
                    retry_after=min(wait, 600),
                )
            now = time.monotonic()
            for index, text in enumerate(texts):
                self.items.append(Item(ticket, index, text, next(self.sequence), now))
            self.cond.notify()

    def request_load(self) -> Future[Summarizer]:
        future: Future[Summarizer] = Future()
        with self.cond:
            if self.closed:
                raise ShuttingDown("the engine is closed; retry on another replica")
            self.loads.append(future)
            self.cond.notify()
        return future

    def forget_model(self) -> None:
        """The registry unloaded the model: drop this worker's reference, so its memory can go."""
        self.summarizer = None

    def discard(self, ticket: Ticket) -> None:
        """Drop a cancelled ticket's queued documents at once, freeing their places."""
        with self.cond:
            ticket.cancelled = True
            self.items = [item for item in self.items if item.ticket is not ticket]

    def close(self) -> None:
        with self.cond:
            self.closed = True
            items, self.items = self.items, []
            loads, self.loads = self.loads, []
            self.cond.notify_all()
        for ticket in {id(item.ticket): item.ticket for item in items}.values():
            ticket.future.cancel()
        for load in loads:
            load.cancel()

    # -- the worker thread --------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            reserved = self.overlap  # a remote model's calls overlap (service.overlap): wait for a slot first
            if reserved is not None:
                reserved.reserve()
            taken = self._next()
            if taken is None:
                return
            loads, batch = taken
            if reserved is not None and not batch:
                reserved.release()
            try:
                # held (never unloaded) until released after the call; a load here is timed and traced
                summarizer = self.telemetry.load(self.registry, self.model)
            except Exception as exc:
                self._load_failed(loads, batch, exc)
                if reserved is not None and batch:
                    reserved.release()
                continue
            self.summarizer = summarizer
            self.overlap = self.overlap or overlap_for(summarizer, self.model)
            for load in loads:
                _settle(load, summarizer)
            if batch and reserved is not None:
                reserved.run(functools.partial(self._held_call, summarizer, batch))
            else:
                self._local_call(summarizer, batch)
            del summarizer  # an unloaded model's memory is not kept alive by this thread

    def _load_failed(self, loads: list[Future[Summarizer]], batch: list[Item], exc: Exception) -> None:
        for load in loads:
            _settle(load, exc=exc)
        for item in batch:
            self._fail_ticket(item.ticket, exc)

    def _local_call(self, summarizer: Summarizer, batch: list[Item]) -> None:
        """A call on this worker's thread (possibly none: a load only); the model is held until it ends."""
        try:
            if batch:
                started = time.monotonic()
                self._run_batch(summarizer, batch)
                elapsed = (time.monotonic() - started) / len(batch)
                self.seconds_per_document = 0.8 * self.seconds_per_document + 0.2 * elapsed
        finally:
            del summarizer
            self.registry.release(self.model)
        if batch and not self.items:  # unlocked: a stale answer costs one trim, or skips one
            return_free_heap()

    def _held_call(self, summarizer: Summarizer, batch: list[Item]) -> None:
        """An overlapping call (service.overlap), on its own thread: the model is held until it ends."""
        try:
            self._run_batch(summarizer, batch)
        finally:
            self.registry.release(self.model)

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
            if all(item.ticket.priority == Priority.INTERACTIVE for item in self.items):
                self.share.forget()  # no batch work waits: it is owed nothing
            # Wait a little for company while requests keep arriving, unless a batch is already full.
            head = self._head()
            give_up = head.arrived + limits.batch_wait_s * _MAX_WAIT_WINDOWS
            while not self.closed and not self.loads:
                compatible = [i for i in self.items if i.ticket.options == head.ticket.options]
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
            owed = [item for item in self.items if item.ticket.priority > Priority.INTERACTIVE]
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
        if head.ticket.on_event is not None:
            return [item for item in self.items if item.ticket is head.ticket][: limits.batch_size]
        candidates = [
            item
            for item in self.items
            if item is not head
            and item.ticket.options == head.ticket.options
            and item.ticket.priority == head.ticket.priority
            and item.ticket.on_event is None
        ]
        if riders and len(candidates) + 1 < limits.batch_size:  # room left: lower-priority work may ride along
            candidates += [
                item
                for item in self.items
                if item.ticket.options == head.ticket.options
                and item.ticket.priority > head.ticket.priority
                and item.ticket.on_event is None
            ]
        candidates.sort(key=lambda item: item.seq)  # ties in length go to the oldest
        rows = self.summarizer.rows_per_document(head.ticket.options) if self.summarizer is not None else 1
        return fill_call(head, candidates, self._tokens, rows, CallBudget(limits.batch_size, limits.batch_tokens))

    def _tokens(self, item: Item) -> int:
        """The item's input tokens, counted once by the model's own tokenizer (this is its thread)."""
        if item.tokens is None:
            if self.summarizer is None:
                item.tokens = estimate_tokens(item.text)
            else:
                [item.tokens] = input_tokens(self.summarizer, [item.text])
        return item.tokens

    def _drop_finished(self) -> None:
        if any(item.ticket.done for item in self.items):
            self.items = [item for item in self.items if not item.ticket.done]

    def _run_batch(self, summarizer: Summarizer, batch: list[Item]) -> None:
        live = [item for item in batch if not item.ticket.done]
        if not live:
            return
        # Longest first, as the library runner does: similar lengths end up side by side.
        live.sort(key=lambda item: len(item.text), reverse=True)
        options = live[0].ticket.options
        now = time.monotonic()
        self.telemetry.dequeued(self.model, [now - item.arrived for item in live])
        try:
            summarizer.check_options(options)
        except Exception as exc:  # the same options for every item: each request fails as a whole
            for item in live:
                self._fail_ticket(item.ticket, exc)
            return
        started = time.perf_counter()

        def run(call: Sequence[Item]) -> list[None]:
            for item, summary in zip(call, self._call(summarizer, call, options), strict=True):
                self._complete(item, summary)
            return [None] * len(call)

        try:
            # models.planning: a failed call is retried one document at a time; a document that fails alone
            # fails its request (or only itself, for batch requests). Results land as each call returns.
            run_or_split(run, live, self._fail_item)
        except Cancelled:
            logger.debug("a call of %d documents stopped: its callers have gone, or the engine closed", len(live))
            for item in live:
                self._fail_ticket(item.ticket, ModelUnavailable(f"model {self.model!r} was shut down", param="model"))
            return
        logger.debug(
            "call: %d documents, longest %d tokens, %.2f s",
            len(live),
            max(self._tokens(item) for item in live),
            time.perf_counter() - started,
        )

    def _call(self, summarizer: Summarizer, call: Sequence[Item], options: SummaryOptions) -> list[Any]:
        """The model call. Background work pauses between decoding steps for interactive requests that
        arrive meanwhile; any call stops at its next pause point once every caller in it has gone
        (a call shared with callers still waiting runs on: rows are not cut one by one)."""
        tickets = list({id(item.ticket): item.ticket for item in call}.values())

        def abandoned() -> bool:
            return self.closed or all(ticket.done for ticket in tickets)

        if abandoned():  # retried one by one after its callers left: nobody waits for this document
            return [None] * len(call)
        texts = [item.text for item in call]
        on_event = call[0].ticket.on_event
        kw = {"on_event": on_event} if on_event is not None else {}  # fakes in tests may take no on_event
        batch_documents = sum(item.ticket.priority > Priority.INTERACTIVE for item in call)
        background = batch_documents == len(call)
        pause = between_steps(lambda: self._serve_urgent(summarizer), pending=self._urgent_waiting)
        # Batch work's share of the model's time (service.fairness) is charged for the call's batch part.
        with (
            self.share.charging(batch_documents / len(call)),
            pause if background else contextlib.nullcontext(),
            stop_when(abandoned),
        ):
            # Timed, counted and traced (service.observability): a span in the trace of each caller it serves.
            traces = [item.ticket.trace for item in call]
            return self.telemetry.call(
                self.model, summarizer.kind, traces, lambda: summarizer.summarize(texts, options, **kw)
            )

    def _urgent_waiting(self) -> bool:
        """Asked after each step, from the model's worker threads: cheap, and unlocked (a stale answer costs a step)."""
        if self.share.owed():
            return False
        return any(item.ticket.priority == Priority.INTERACTIVE and not item.ticket.done for item in self.items)

    def _serve_urgent(self, summarizer: Summarizer) -> None:
        """Between two decoding steps of background work: run the interactive requests waiting now, unless batch
        work is owed its share of the model's time."""
        if self.share.owed():
            return
        with self.cond:
            self._drop_finished()
            urgent = [item for item in self.items if item.ticket.priority == Priority.INTERACTIVE]
            if not urgent:
                return
            batch = self._pick(min(urgent, key=_urgency), riders=False)
            taken = {id(item) for item in batch}
            self.items = [item for item in self.items if id(item) not in taken]
        self._run_batch(summarizer, batch)

    def _complete(self, item: Item, value: Any) -> None:
        ticket = item.ticket
        if ticket.done:
            return
        ticket.results[item.index] = value
        ticket.remaining -= 1
        if ticket.remaining == 0:
            _settle(ticket.future, ticket.results)

    def _fail_item(self, item: Item, exc: Exception) -> None:
        if item.ticket.on_error is not None:
            self._complete(item, item.ticket.on_error(item.index, exc))
        else:
            self._fail_ticket(item.ticket, exc)

    def _fail_ticket(self, ticket: Ticket, exc: Exception) -> None:
        """The whole request fails: the model is unavailable, or the options are not for it."""
        if not ticket.done:
            _settle(ticket.future, exc=exc)


def _urgency(item: Item) -> tuple[int, int]:
    return item.ticket.priority, item.seq


def _settle(future: Future[Any], value: Any = None, exc: BaseException | None = None) -> None:
    """Resolve a future unless its caller already gave up on it (cancelled concurrently)."""
    with contextlib.suppress(InvalidStateError):
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(value)
