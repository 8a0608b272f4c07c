"""Cooperative pauses inside a long model call, so that urgent work can run first.

A caller that runs low-priority work installs a callback with ``between_steps``;
seq2seq generation calls ``step_done`` after every decoding step, which runs the
callback on the same thread (the only thread allowed to touch the model). The
callback may itself summarize (the service's engine serves waiting interactive
requests there); while it runs, no further callback is made, so it cannot recurse.

A caller can also install an ``abandoned`` check with ``stop_when``: once it says so,
the next pause point raises :class:`Cancelled`, so work nobody waits for stops at the
next decoding step or encoder layer instead of running to the end of the call.

A call split across worker threads (models._speed.generation's parts) cannot run the
callback on a worker while the other parts go on: it asks ``pending`` after each
step, and when urgent work waits, a :class:`PauseGate` parks every part and runs the
callback alone on the calling thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


def _always() -> bool:
    return True


def _never() -> bool:
    return False


@contextmanager
def between_steps(callback: Callable[[], None], pending: Callable[[], bool] = _always) -> Iterator[None]:
    """Run ``callback`` between the decoding steps of model calls made inside this block, on this thread.

    ``pending`` says cheaply, from any thread, whether the callback has work now; a
    call split across threads pauses all of its parts only when it does.
    """
    previous = getattr(_local, "callback", None), getattr(_local, "pending", _always)
    _local.callback, _local.pending = callback, pending
    try:
        yield
    finally:
        _local.callback, _local.pending = previous


class Cancelled(Exception):
    """Nobody waits for the model call any more: raised at its next pause point."""


@contextmanager
def stop_when(abandoned: Callable[[], bool] | None) -> Iterator[None]:
    """Pause points of model calls made inside this block raise :class:`Cancelled` once ``abandoned()``.

    ``abandoned`` must be cheap and callable from any thread (a call's parts ask it on theirs).
    """
    previous = getattr(_local, "abandoned", None)
    _local.abandoned = abandoned
    try:
        yield
    finally:
        _local.abandoned = previous


def has_callback() -> bool:
    return getattr(_local, "callback", None) is not None


def has_pause_points() -> bool:
    """Whether pause points do anything here: a callback to run, or an ``abandoned`` check."""
    return has_callback() or getattr(_local, "abandoned", None) is not None


def check_abandoned() -> None:
    """Raise :class:`Cancelled` if the installed ``abandoned`` check says nobody waits any more."""
    abandoned = getattr(_local, "abandoned", None)
    if abandoned is not None and abandoned():
        raise Cancelled("every caller of this model call has gone")


def step_done() -> None:
    """A decoding step ended: stop if abandoned, else run the installed callback, if any, with itself
    switched off meanwhile."""
    check_abandoned()
    callback = getattr(_local, "callback", None)
    if callback is None:
        return
    _local.callback = None
    try:
        callback()
    finally:
        _local.callback = callback


class PauseGate:
    """Parts of one call, each on its own worker thread, park together so the caller's callback runs alone.

    Made on the calling thread (taking its ``pending``); each worker runs
    its part inside :meth:`part`, where ``step_done`` parks it once ``pending`` says so;
    the calling thread waits in :meth:`wait`, running the callback whenever every
    unfinished part is parked.
    """

    def __init__(self, parts: int) -> None:
        # With no callback to run there is nothing to pause for: parking would only hold
        # every part in lockstep at each pause point (an encoder layer or a decoding step).
        self._pending: Callable[[], bool] = getattr(_local, "pending", _always) if has_callback() else _never
        self._abandoned: Callable[[], bool] | None = getattr(_local, "abandoned", None)
        self._cond = threading.Condition()
        self._unfinished = parts
        self._parked = 0
        self._pausing = False
        self._round = 0  # pauses so far: a parked part leaves once its pause has ended

    @contextmanager
    def part(self) -> Iterator[None]:
        """On a worker: its steps may park here; leaving the block marks the part finished."""
        try:
            with between_steps(self._step), stop_when(self._abandoned):
                yield
        finally:
            with self._cond:
                self._unfinished -= 1
                self._cond.notify_all()

    def wait(self) -> None:
        """On the calling thread: run the callback whenever the parts are parked, until all have finished.

        Abandoned, it still waits for every part (each stops at its next step): none may
        go on using the model once the call has returned.
        """
        cancelled: Cancelled | None = None
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._parked == self._unfinished)
                if not self._unfinished:
                    if cancelled is not None:
                        raise cancelled
                    return
            try:
                step_done()
            except Cancelled as exc:
                cancelled = exc
            finally:
                with self._cond:
                    self._pausing, self._parked = False, 0
                    self._round += 1
                    self._cond.notify_all()

    def _step(self) -> None:
        if not self._pausing and not self._pending():
            return
        with self._cond:
            self._pausing = True
            self._parked += 1
            self._cond.notify_all()
            pause = self._round
            self._cond.wait_for(lambda: self._round != pause)
