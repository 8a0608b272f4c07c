"""``docsum batch``: JSONL in, JSONL out, in input order, resumable.

Each output line is written and flushed as soon as its window of documents is
done, so a killed run loses at most that window, and ``--resume`` carries on
from what OUT already holds (a torn last line is dropped first).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, Any

from models.runner import Document, DocumentError, DocumentResult, summarize_documents
from models.types import Summarizer, SummaryOptions
from service.schemas import batch_item

_CHUNK_BATCHES = 8


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    written: int
    failed: int
    skipped: int


@dataclass(frozen=True, slots=True)
class _Entry:
    """A parsed input line: a document to summarize, or the error that line gets instead."""

    document: Document | None
    error: DocumentResult | None


def run_batch(
    summarizer: Summarizer,
    source: Path,
    target: Path,
    options: SummaryOptions,
    *,
    batch_size: int,
    max_chars: int | None,
    resume: bool,
    progress: Any | None = None,
    batch_tokens: int | None = None,
) -> BatchOutcome:
    """Summarize every line of ``source`` into ``target``; ``progress`` is a tqdm-like bar."""
    summarizer.check_options(options)
    done = completed_ids(target) if resume else set()
    written = failed = skipped = 0
    with target.open("a" if resume else "w", encoding="utf-8") as out:
        entries = _pending(read_entries(source), done)
        while chunk := list(islice(entries, batch_size * _CHUNK_BATCHES)):
            for result in _summarize_chunk(summarizer, chunk, options, batch_size, max_chars, batch_tokens):
                _write_line(out, batch_item(result, summarizer.name, options).model_dump(mode="json"))
                written += 1
                failed += result.error is not None
            out.flush()
            os.fsync(out.fileno())
            if progress is not None:
                progress.update(len(chunk))
    skipped = len(done)
    return BatchOutcome(written=written, failed=failed, skipped=skipped)


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())


def read_entries(path: Path) -> Iterator[_Entry]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if line.strip():
                yield _parse_line(line, number)


def completed_ids(target: Path) -> set[str]:
    """Ids that already have a line in ``target``; a torn last line is cut off first."""
    if not target.exists():
        return set()
    done: set[str] = set()
    keep = 0
    with target.open("rb") as handle:
        for raw in handle:
            if not raw.endswith(b"\n"):
                break
            try:
                done.add(str(json.loads(raw)["id"]))
            except (ValueError, KeyError, TypeError):
                break
            keep += len(raw)
    if keep < target.stat().st_size:
        with target.open("r+b") as handle:
            handle.truncate(keep)
    return done


def _pending(entries: Iterator[_Entry], done: set[str]) -> Iterator[_Entry]:
    for entry in entries:
        entry_id = entry.document.id if entry.document else entry.error.id if entry.error else ""
        if entry_id not in done:
            yield entry


def _summarize_chunk(
    summarizer: Summarizer,
    chunk: list[_Entry],
    options: SummaryOptions,
    batch_size: int,
    max_chars: int | None,
    batch_tokens: int | None = None,
) -> list[DocumentResult]:
    documents = [entry.document for entry in chunk if entry.document is not None]
    summarized = iter(
        summarize_documents(
            summarizer, documents, options, batch_size=batch_size, max_chars=max_chars, batch_tokens=batch_tokens
        )
    )
    return [next(summarized) if entry.document is not None else entry.error for entry in chunk]  # type: ignore[misc]


def _parse_line(line: str, number: int) -> _Entry:
    fallback_id = f"line-{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        return _bad(fallback_id, f"line {number} is not valid JSON: {exc.msg}")
    if not isinstance(record, dict):
        return _bad(fallback_id, f"line {number} is not a JSON object")
    raw_id = record.get("id")
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        return _bad(fallback_id, f"line {number} has no string or integer `id`")
    text = record.get("text", record.get("document"))
    if not isinstance(text, str):
        return _bad(str(raw_id), f"line {number} has no string `text` (or `document`)")
    return _Entry(Document(str(raw_id), text), None)


def _bad(entry_id: str, message: str) -> _Entry:
    return _Entry(None, DocumentResult(entry_id, error=DocumentError("invalid_line", message)))


def _write_line(out: IO[str], record: dict[str, Any]) -> None:
    out.write(json.dumps(record, ensure_ascii=False) + "\n")
