"""How one model's time is shared between interactive requests and batch (job) work.

Interactive requests go first, even between two decoding steps of batch work
(``service.batching``). Left at that, a steady stream of them (two clients at 2.5-3
requests/s) cut a running job from ~18 to 2.7 documents/s, with no progress at all for
12 s. So batch work is guaranteed a share of the model's time: :class:`TimeShare` keeps
its deficit, the time it has fallen behind ``batch_share`` of the time the model ran
while batch work waited. Once the deficit passes ``tolerance_s``, batch work is owed:
it goes first at the next call, and its running call serves no interactive request
between its steps, until the deficit is paid back. Short bursts of interactive work
still go first, batch work runs in stretches long enough to batch well, and an
interactive request waits at most about ``tolerance_s / (1 - batch_share)`` for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

# How far (seconds of model time) batch work may fall behind its share before it is owed.
TOLERANCE_S = 0.5


class TimeShare:
    """The batch deficit, charged as model calls start and end; only the model's worker thread changes it.

    ``owed`` may be asked from any thread: it reads, and a stale answer costs one step.
    """

    def __init__(
        self, batch_share: float, tolerance_s: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.batch_share = batch_share
        self.tolerance_s = TOLERANCE_S if tolerance_s is None else tolerance_s
        self.clock = clock
        self.deficit = 0.0
        self.owing = False
        self.running: float | None = None  # the share of batch documents in the running call; None: idle
        self.since = clock()

    def switch(self, running: float | None) -> float | None:
        """A call starts or ends: charge the time since the last switch to what ran; return what ran before.

        ``running`` is the fraction of the new call's documents that are batch work.
        """
        now = self.clock()
        self.deficit = self._deficit(now)
        self.owing = self._owing(self.deficit)
        previous, self.running, self.since = self.running, running, now
        return previous

    @contextmanager
    def charging(self, batch_fraction: float) -> Iterator[None]:
        """A model call in this block, ``batch_fraction`` of its documents batch work."""
        outer = self.switch(batch_fraction)
        try:
            yield
        finally:
            self.switch(outer)

    def forget(self) -> None:
        """No batch work waits: nothing is owed to it, and interactive work starts afresh."""
        self.deficit, self.owing, self.since = 0.0, False, self.clock()

    def owed(self) -> bool:
        """Whether batch work goes first now (the time since the last switch counted in)."""
        return self.batch_share > 0 and self._owing(self._deficit(self.clock()))

    def _deficit(self, now: float) -> float:
        if self.running is None:
            return self.deficit
        return max(0.0, self.deficit + (now - self.since) * (self.batch_share - self.running))

    def _owing(self, deficit: float) -> bool:
        # Owed past the tolerance, until paid back: batch work runs in stretches, not a step at a time.
        return deficit > self.tolerance_s or (self.owing and deficit > 0)
