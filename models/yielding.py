"""Cooperative pauses inside a long model call, so that urgent work can run first.

A caller that runs low-priority work installs a callback with ``between_steps``;
seq2seq generation calls ``step_done`` after every decoding step, which runs the
callback on the same thread (the only thread allowed to touch the model). The
callback may itself summarize (the service's engine serves waiting interactive
requests there); while it runs, no further callback is made, so it cannot recurse.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

_local = threading.local()


@contextmanager
def between_steps(callback: Callable[[], None]) -> Iterator[None]:
    """Run ``callback`` between the decoding steps of model calls made inside this block, on this thread."""
    previous = getattr(_local, "callback", None)
    _local.callback = callback
    try:
        yield
    finally:
        _local.callback = previous


def has_callback() -> bool:
    return getattr(_local, "callback", None) is not None


def step_done() -> None:
    """A decoding step ended: run the installed callback, if any, with itself switched off meanwhile."""
    callback = getattr(_local, "callback", None)
    if callback is None:
        return
    _local.callback = None
    try:
        callback()
    finally:
        _local.callback = callback
