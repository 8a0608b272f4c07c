"""Model calls that run side by side, for models whose work happens elsewhere (a remote server's own batching).

A model worker (``service.batching``) runs one call at a time: right for a model on this
machine, which a second call would only slow down. A remote model (``models.remote``) says how
many calls it takes at once (``concurrent_calls``); its worker then hands each call to one of that
many threads and goes on picking the next one, so requests that arrive while a call runs are not
held back until the slowest document of that call is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from models.types import Summarizer


class OverlappingCalls:
    def __init__(self, calls: int, name: str) -> None:
        self._slots = threading.Semaphore(calls)
        self._pool = ThreadPoolExecutor(calls, thread_name_prefix=f"docsum-{name}-call")

    def reserve(self) -> None:
        """Wait for a free slot before taking the next call's work (so no work is taken that cannot start)."""
        self._slots.acquire()

    def release(self) -> None:
        self._slots.release()

    def run(self, call: Callable[[], None]) -> None:
        """Run the call on its own thread; its slot is freed when it ends."""

        def run_and_release() -> None:
            try:
                call()
            finally:
                self._slots.release()

        self._pool.submit(run_and_release)


def overlap_for(summarizer: Summarizer, name: str) -> OverlappingCalls | None:
    calls = getattr(summarizer, "concurrent_calls", 1)
    return OverlappingCalls(calls, name) if isinstance(calls, int) and calls > 1 else None
