"""Stages of a summary that a caller may time or trace, told without any telemetry library.

The library never imports telemetry (the service's metrics and traces live in
``service.observability``). A caller installs an :class:`Observer` on its thread with
``observing``; map-reduce (``models.longdoc``) reports each round and each model call on
chunks through ``stage``. With no observer installed, ``stage`` costs one lookup.

Stages (``name``: attributes):

- ``map``: ``round`` 0, ``documents``, ``chunks``: the map step over every long document;
- ``reduce``: ``round`` (1, 2, ...), ``documents``, ``chunks``: a round that shrinks partial
  summaries still over the window; ``final`` true, ``documents``: the last pass, at the
  requested length;
- ``chunks``: ``chunks``: one model call on that many chunks, inside a ``map`` or ``reduce``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Protocol

Attribute = str | int | float | bool

_local = threading.local()


class Observer(Protocol):
    def stage(self, name: str, attributes: Mapping[str, Attribute]) -> AbstractContextManager[object]:
        """A context around the stage's work, entered and left on the thread doing it."""
        ...


@contextmanager
def observing(observer: Observer | None) -> Iterator[None]:
    """Tell ``observer`` the stages of the work done inside this block, on this thread."""
    previous = getattr(_local, "observer", None)
    _local.observer = observer
    try:
        yield
    finally:
        _local.observer = previous


def stage(name: str, **attributes: Attribute) -> AbstractContextManager[object]:
    """A context around one stage of the work: the installed observer's, or one that does nothing."""
    observer: Observer | None = getattr(_local, "observer", None)
    return nullcontext() if observer is None else observer.stage(name, attributes)
