"""Extraction with a time and memory bound: in worker processes that are killed at the time limit.

Parsers of PDF, DOCX and HTML are large native or recursive code, and a hostile file can make one
spin or allocate without end. A thread cannot be stopped, so the work runs in a worker process:
started once (``python -c``, importing only the extractors: not the server's main module, its
threads or its models, as ``multiprocessing`` would re-import), its address space capped
(``RLIMIT_AS``), reused for the next file, and killed (then replaced on the next call) when a file
runs past the time limit or crashes it. The caller gets the document or the ``DocumentFileError``
the worker raised; a worker that dies is a ``CorruptDocument``.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from models.documents.errors import CorruptDocument, DocumentFileError, ExtractionTimeout
from models.documents.types import ExtractedDocument, ExtractLimits

# A worker is replaced after this many files, so what a parser leaks does not pile up.
_FILES_PER_WORKER = 200


class _Worker:
    def __init__(self, memory_bytes: int) -> None:
        request_r, request_w = os.pipe()
        reply_r, reply_w = os.pipe()
        code = f"from models.documents.worker import serve; serve({request_r}, {reply_w}, {memory_bytes})"
        # The worker imports this package from where this process found it.
        root = str(Path(__file__).resolve().parents[2])
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], pass_fds=(request_r, reply_w), stdin=subprocess.DEVNULL, env=env
        )
        os.close(request_r)
        os.close(reply_w)
        self.requests = Connection(request_w, readable=False)
        self.replies = Connection(reply_r, writable=False)
        self.used = 0

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        self.requests.close()
        self.replies.close()


class BoundedExtractor:
    """``extract`` in killable worker processes: at most ``workers`` files at once, each within
    ``timeout`` seconds and ``memory_bytes`` of address space. Blocking; thread-safe."""

    def __init__(self, limits: ExtractLimits, timeout: float, memory_bytes: int, workers: int) -> None:
        self.limits = limits
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        # Idle workers, or None for a slot whose worker is started on first use.
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()  # a started worker first
        for _ in range(workers):
            self._idle.put(None)

    def extract(self, data: bytes, name: str | None) -> ExtractedDocument:
        worker = self._idle.get()
        try:
            worker = worker or _Worker(self.memory_bytes)
            outcome = self._ask(worker, data, name)
            worker.used += 1
            if worker.used >= _FILES_PER_WORKER:
                worker.close()
                worker = None
        except BaseException:
            if worker is not None:
                worker.close()  # timed out, crashed, or the caller was interrupted: never reused
            worker = None
            raise
        finally:
            self._idle.put(worker)
        return _result(outcome)

    def close(self) -> None:
        while not self._idle.empty():
            worker = self._idle.get_nowait()
            if worker is not None:
                worker.close()

    def _ask(self, worker: _Worker, data: bytes, name: str | None) -> tuple[str, Any, Any]:
        try:
            worker.requests.send((data, name, self.limits))
            if not worker.replies.poll(self.timeout):
                raise ExtractionTimeout(
                    f"extracting the text took longer than {self.timeout:g} s (the limit)", param="file"
                )
            outcome: tuple[str, Any, Any] = worker.replies.recv()
        except (EOFError, OSError):
            raise CorruptDocument("the file crashed the extractor (or it ran out of memory)", param="file") from None
        return outcome


def _result(outcome: tuple[str, Any, Any]) -> ExtractedDocument:
    status, value, message = outcome
    if status == "ok":
        assert isinstance(value, ExtractedDocument)
        return value
    for kind in _error_classes():
        if kind.code == value:
            raise kind(message, param="file")
    raise CorruptDocument(message, param="file")


def _error_classes() -> list[type[DocumentFileError]]:
    found: list[type[DocumentFileError]] = []
    pending = [DocumentFileError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending.extend(kind.__subclasses__())
    return found
