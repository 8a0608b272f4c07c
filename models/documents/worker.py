"""The extraction worker process (``bounded``): reads files from one pipe, answers on another."""

from __future__ import annotations

import resource
from multiprocessing.connection import Connection
from typing import Any

from models.documents.errors import DocumentFileError
from models.documents.extract import extract


def serve(requests_fd: int, replies_fd: int, memory_bytes: int) -> None:
    """Answer ``(data, name, limits)`` requests with ``("ok", document, None)`` or ``("error", code, message)``
    until the pipe closes."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    requests = Connection(requests_fd, writable=False)
    replies = Connection(replies_fd, readable=False)
    while True:
        try:
            data, name, limits = requests.recv()
        except EOFError:
            return
        replies.send(_outcome(data, name, limits))


def _outcome(data: bytes, name: str | None, limits: Any) -> tuple[str, Any, Any]:
    try:
        return ("ok", extract(data, name, limits), None)
    except DocumentFileError as exc:
        return ("error", exc.code, exc.message)
    except MemoryError:
        return ("error", "archive_too_large", "extracting the file needs more memory than allowed")
    except Exception as exc:  # a parser bug on a malformed file: the caller says the file cannot be read
        return ("error", "corrupt_document", f"the file cannot be read: {type(exc).__name__}")
