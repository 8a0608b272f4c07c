"""Log lines as text or JSON (``DOCSUM_LOG_FORMAT``), each with the id of the request it belongs to.

The request id comes from ``service.request_context`` (set by ``RequestIdMiddleware``), so
every line logged while a request runs, uvicorn's access line included, carries it. A JSON
line holds a fixed set of fields and nothing a caller sent but what a message itself says:
request headers (``Authorization``, API keys) are never logged, in either format.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Literal, TextIO

from opentelemetry import trace

from service.request_context import current_request

LogFormat = Literal["text", "json"]


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on each record (``None`` outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        info = current_request()
        record.request_id = info.request_id if info is not None else None
        return True


class TextFormatter(logging.Formatter):
    """``LEVEL logger [request-id]: message``; the brackets only inside a request."""

    def format(self, record: logging.LogRecord) -> str:
        request_id = getattr(record, "request_id", None)
        where = f"{record.name} [{request_id}]" if request_id else record.name
        line = f"{record.levelname} {where}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, trace ids, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class _Stderr(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stderr`` is when a line is logged (as logging's last resort does)."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass


def log_handler(log_format: LogFormat) -> logging.Handler:
    """A handler writing to standard error in ``log_format``, with request ids."""
    handler = _Stderr()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.set_name("docsum")
    return handler


def configure_logging(level: str, log_format: LogFormat) -> None:
    """The root logger writes through docsum's handler, as ``logging.basicConfig`` would: not where the
    process already logged elsewhere (an embedding program, pytest), and once (a later call replaces it).
    uvicorn's loggers reach it too: ``docsum serve`` gives uvicorn no logging config of its own."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if h.get_name() == "docsum"]
    if len(ours) != len(root.handlers):
        return
    for handler in ours:
        root.removeHandler(handler)
    root.addHandler(log_handler(log_format))
    root.setLevel(level.upper())
