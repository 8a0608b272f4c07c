"""What is known about the HTTP request being served, wherever its code runs: its id, model and error code.

``RequestIdMiddleware`` opens a scope for each request (a context variable, so code of the
request on any task or thread it hands work to sees it, and other requests never do). Log
lines carry the id (``service.observability.logs``); the request's metrics and span are
labelled with the model and the error code noted here by the code that chose them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(slots=True)
class RequestInfo:
    request_id: str
    model: str = ""  # the catalog model the request asked for (or the default), once known
    error_code: str = ""  # the code of the error envelope it was answered with, if any


_current: ContextVar[RequestInfo | None] = ContextVar("docsum_request", default=None)


@contextmanager
def request_scope(request_id: str) -> Iterator[RequestInfo]:
    """The request's info for the code it runs inside this block."""
    info = RequestInfo(request_id)
    token = _current.set(info)
    try:
        yield info
    finally:
        _current.reset(token)


def current_request() -> RequestInfo | None:
    return _current.get()


def note_model(model: str) -> None:
    """The request works with this model (a copied context shares the same info: the note reaches the scope)."""
    if (info := _current.get()) is not None:
        info.model = model


def note_error(code: str) -> None:
    if (info := _current.get()) is not None:
        info.error_code = code
