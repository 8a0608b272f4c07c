"""What the sync and async clients share, with no I/O: retry policy, request bodies, SSE parsing,
and the bookkeeping of a resumable download."""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from service.client.errors import DocsumError, error_from_body, retry_after_seconds

__all__ = ["FINAL_STATUSES", "Event", "ResumePoint", "RetryPolicy", "SSEParser", "resume_point"]

FINAL_STATUSES = ("succeeded", "failed", "cancelled")
DEFAULT_URL = "http://127.0.0.1:8000"
USER_AGENT = "docsum-client/0.1"


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of answers the server says are worth retrying: 429 and 503 (not a model that failed to
    load, unless the server sends ``Retry-After``), and connection failures before anything was sent.

    The wait is the server's ``Retry-After`` when it sends one (capped at ``max_wait``), else an
    exponential backoff with jitter. httpx's own transport ``retries`` cover connection failures only,
    and honour no ``Retry-After``, hence this small loop (in ``sync.py`` and ``aio.py``).
    """

    attempts: int = 5
    backoff: float = 0.5
    max_wait: float = 60.0
    statuses: tuple[int, ...] = (429, 503)

    def delay(self, attempt: int, response: httpx.Response | None) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``; None: do not retry (give the answer as it is)."""
        if attempt + 1 >= self.attempts:
            return None
        if response is None:  # a connection failure
            return self._backoff(attempt)
        if response.status_code not in self.statuses:
            return None
        told = retry_after_seconds(response)
        if told is None and response.status_code == 503 and _code(response) == "model_unavailable":
            return None  # a model that failed to load stays failed until the server restarts
        return min(self.max_wait, told) if told is not None else self._backoff(attempt)

    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_wait, self.backoff * 2**attempt * (0.5 + random.random())))


NO_RETRIES = RetryPolicy(attempts=1)


def _code(response: httpx.Response) -> str | None:
    try:
        body = json.loads(response.content)
        return str(body["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def options_body(model: str | None, options: Mapping[str, Any]) -> dict[str, Any]:
    """Summary options as the server takes them; None values are left out (server defaults)."""
    body = {key: value for key, value in options.items() if value is not None}
    if model is not None:
        body["model"] = model
    return body


def documents_body(documents: Iterable[Mapping[str, str] | tuple[str, str] | str]) -> list[dict[str, str]]:
    """``{"id", "text"}`` items from dicts, ``(id, text)`` pairs, or bare texts (ids ``"1"``, ``"2"``, ...)."""
    items = []
    for index, document in enumerate(documents, 1):
        if isinstance(document, str):
            items.append({"id": str(index), "text": document})
        elif isinstance(document, tuple):
            items.append({"id": document[0], "text": document[1]})
        else:
            items.append({"id": str(document["id"]), "text": str(document["text"])})
    return items


def client_headers(api_key: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return headers


@dataclass(frozen=True, slots=True)
class Upload:
    """A job file sent as multipart ``file`` with the options as fields; opened anew for each attempt."""

    path: Path
    fields: dict[str, str]

    @contextlib.contextmanager
    def open(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as handle:
            yield {"file": (self.path.name, handle, "application/octet-stream")}


def job_body(
    documents: Iterable[Mapping[str, str] | tuple[str, str] | str] | None,
    file: Path | str | None,
    model: str | None,
    webhook_url: str | None,
    options: Mapping[str, Any],
) -> dict[str, Any]:
    """The keyword arguments of a POST /v1/jobs request: ``json=`` for documents, ``upload=`` for a file."""
    if (documents is None) == (file is None):
        raise ValueError("give either documents or a file")
    body = options_body(model, {**options, "webhook_url": webhook_url})
    if file is not None:
        fields = {key: json.dumps(value) if isinstance(value, bool) else str(value) for key, value in body.items()}
        return {"upload": Upload(Path(file), fields)}
    assert documents is not None
    return {"json": {**body, "documents": documents_body(documents)}}


# -- server-sent events --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a summary stream: ``progress`` (chunks_done, chunks_total, round), ``token``
    (text: the next piece of the summary) or ``summary`` (the whole response, as without streaming)."""

    type: Literal["progress", "token", "summary"]
    data: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.data.get("text", "")) if self.type == "token" else str(self.data.get("summary", ""))


@dataclass(slots=True)
class SSEParser:
    """Lines of a ``text/event-stream`` in, events out; an ``error`` event raises its ``StreamError``."""

    _event: str = "message"
    _data: list[str] = field(default_factory=list)

    def feed(self, line: str) -> Iterator[Event]:
        line = line.rstrip("\r\n")
        if not line:
            if self._data:
                yield from self._dispatch()
            return
        if line.startswith(":"):
            return  # a comment (keep-alive)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)

    def close(self) -> Iterator[Event]:
        if self._data:
            yield from self._dispatch()

    def _dispatch(self) -> Iterator[Event]:
        kind, data = self._event, json.loads("\n".join(self._data))
        self._event, self._data = "message", []
        if kind == "error":
            raise error_from_body(data, None)
        if kind in ("progress", "token", "summary"):  # others (a newer server's) are skipped, as SSE allows
            yield Event(kind, data)  # type: ignore[arg-type]


# -- resumable downloads -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Complete lines already in the output file: their ids, and where each ends (bytes)."""

    ids: tuple[str, ...]
    ends: tuple[int, ...]

    @property
    def size(self) -> int:
        return self.ends[-1] if self.ends else 0


def resume_point(path: Path) -> ResumePoint:
    """What an interrupted download left in ``path``: whole lines only (a cut last line is dropped)."""
    if not path.exists():
        return ResumePoint((), ())
    ids: list[str] = []
    ends: list[int] = []
    size = 0
    with path.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                ids.append(str(json.loads(raw)["id"]))
            except (ValueError, KeyError, TypeError):
                break  # not one of ours: keep what came before, rewrite from here
            size += len(raw)
            ends.append(size)
    return ResumePoint(tuple(ids), tuple(ends))


class ResultsWriter:
    """Writes result lines to a file, skipping those an earlier, interrupted download already wrote
    (checked by id: the results of a finished job come in input order, so they line up)."""

    def __init__(self, path: Path, resume: bool) -> None:
        point = resume_point(path) if resume else ResumePoint((), ())
        self.path = path
        self._expected = point.ids
        self._ends = point.ends
        self._handle = path.open("r+b" if point.size else "wb")
        self._handle.truncate(point.size)
        self._handle.seek(point.size)
        self.seen = 0
        self.skipped = 0

    def line(self, line: str) -> None:
        if not line.strip():
            return
        if self.seen < len(self._expected):
            if str(json.loads(line)["id"]) == self._expected[self.seen]:
                self.seen += 1
                self.skipped += 1
                return
            # The file holds something else (another job's results): start it over.
            self._handle.seek(0)
            self._handle.truncate(0)
            self._expected = ()
            self.skipped = 0
        self._handle.write(line.encode() + b"\n")
        self.seen += 1

    def finish(self) -> None:
        """Ends the file after the last line the server sent (an older, longer file is cut there)."""
        if self.seen < len(self._expected):
            self._handle.truncate(self._ends[self.seen - 1] if self.seen else 0)
        self._handle.close()

    def close(self) -> None:
        """Interrupted: what is written stays, for the next try to resume from."""
        self._handle.close()


def check_job(job: Any) -> dict[str, Any]:
    if not isinstance(job, dict) or "id" not in job:
        raise DocsumError(f"unexpected job answer: {str(job)[:200]}")
    return job
