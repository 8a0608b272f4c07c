"""What the engine queues: a caller's ``Ticket`` (its documents' results gather there), one ``Item``
per document, the ``Priority`` that orders them and the ``BatchLimits`` that shape model calls.
``service.batching`` serves them; ``service.engine`` creates them."""

from __future__ import annotations

import enum
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from models.types import SummaryOptions


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
class Ticket:
    """One caller's request to one model: its documents' results gather here until all are in.
    (A durable job, ``service.features.jobs``, reaches the engine as one ticket per claimed slice of documents.)"""

    priority: int
    options: SummaryOptions
    size: int
    future: Future[list[Any]]
    on_error: Callable[[int, Exception], Any] | None  # per-document errors (batch requests); None: the ticket fails
    on_event: Any = None  # a progress sink (streaming): such a ticket gets model calls of its own
    trace: Any = None  # the caller's trace context (service.observability): its model calls' spans join its trace
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
    ticket: Ticket
    index: int
    text: str
    seq: int
    arrived: float
    tokens: int | None = None
