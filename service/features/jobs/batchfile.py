"""``docsum batch``: documents in (JSONL, or any format of :mod:`models.inputs` by the file's suffix, or a
folder of document files: PDF, DOCX, HTML, ...), JSONL out, in input order, resumable.

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
from types import TracebackType
from typing import IO, Any

from models.documents import DocumentFileError, ExtractLimits, extract
from models.inputs import Problem, Record, count_file, fallback_id, format_for, read_file
from models.runner import Document, DocumentError, DocumentResult, summarize_documents
from models.types import Summarizer, SummaryOptions
from service.features.summarize.protocol import batch_item

# Documents read and summarized together: this many model batches (the runner's sorting window).
CHUNK_BATCHES = 8


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    written: int
    failed: int
    skipped: int


@dataclass(frozen=True, slots=True)
class Entry:
    """A record of the input: a document to summarize, or the error line it gets instead."""

    document: Document | None
    error: DocumentResult | None

    @classmethod
    def of(cls, item: Record | Problem, unit: str) -> Entry:
        """A record read by an input format; a problem is named by its id, else ``{unit}-{number}``."""
        if isinstance(item, Record):
            return cls(Document(item.id, item.text), None)
        entry_id = item.id if item.id is not None else fallback_id(unit, item.number)
        return cls(None, DocumentResult(entry_id, error=DocumentError(item.code, item.message)))


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
    """Summarize every record of ``source`` into ``target``; ``progress`` is a tqdm-like bar.
    A file its format cannot read at all raises ``models.inputs.InputError`` before OUT is touched."""
    summarizer.check_options(options)
    with OutputFile(target, resume) as out:
        entries = skip_done(read_entries(source, max_chars), out.done)
        while chunk := list(islice(entries, batch_size * CHUNK_BATCHES)):
            for result in _summarize_chunk(summarizer, chunk, options, batch_size, max_chars, batch_tokens):
                out.write_line(format_line(result, summarizer.name, options), failed=result.error is not None)
            out.sync()
            if progress is not None:
                progress.update(len(chunk))
    return out.outcome()


class OutputFile:
    """OUT, for a run: ``done`` holds the ids it already has (only when resuming, after a
    torn last line is dropped). Lines are appended, and reach the disk on ``sync``. OUT is
    opened at the first write, or at the end of a run that wrote nothing, so a run that
    fails before its first result (a model that cannot load on a Ray worker) leaves it as it was."""

    def __init__(self, target: Path, resume: bool) -> None:
        self.done = completed_ids(target) if resume else set()
        self.written = 0
        self.failed = 0
        self._target = target
        self._mode = "a" if resume else "w"
        self._out: IO[str] | None = None

    def write_line(self, line: str, *, failed: bool) -> None:
        self._file().write(line)
        self.written += 1
        self.failed += failed

    def sync(self) -> None:
        out = self._file()
        out.flush()
        os.fsync(out.fileno())

    def outcome(self) -> BatchOutcome:
        return BatchOutcome(written=self.written, failed=self.failed, skipped=len(self.done))

    def _file(self) -> IO[str]:
        if self._out is None:
            self._out = self._target.open(self._mode, encoding="utf-8")
        return self._out

    def __enter__(self) -> OutputFile:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self._file()
        if self._out is not None:
            self._out.close()


def format_line(result: DocumentResult, model: str, options: SummaryOptions) -> str:
    """One output line (newline included), as the HTTP batch endpoint shapes an item."""
    return json.dumps(batch_item(result, model, options).model_dump(mode="json"), ensure_ascii=False) + "\n"


def count_entries(path: Path) -> int:
    """About how many entries ``path`` holds (the progress bar's total): a folder's files, or a file's records."""
    if path.is_dir():
        return sum(1 for _ in folder_files(path))
    return count_file(path)


def read_entries(path: Path, max_chars: int | None = None) -> Iterator[Entry]:
    """The entries of ``path``: a folder's document files (:func:`read_folder`), or the records of a file
    read in the format its suffix names (JSONL by default)."""
    if path.is_dir():
        yield from read_folder(path, max_chars)
        return
    fmt = format_for(path)
    for item in read_file(path, fmt):
        yield Entry.of(item, fmt.unit)


def folder_files(folder: Path) -> Iterator[Path]:
    """The files under ``folder``, recursively, sorted by path; hidden ones (``.name``) left out."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            yield path


def read_folder(folder: Path, max_chars: int | None = None) -> Iterator[Entry]:
    """One entry per file of ``folder``, its id the file's path under it (``a/report.pdf``); a file that cannot
    be read (``models.documents``) is an error entry with its code. Extracted here, in this process."""
    limits = ExtractLimits(max_chars=max_chars) if max_chars is not None else ExtractLimits()
    for path in folder_files(folder):
        doc_id = path.relative_to(folder).as_posix()
        try:
            text = extract(path.read_bytes(), path.name, limits).text
        except DocumentFileError as exc:
            yield Entry(None, DocumentResult(doc_id, error=DocumentError(exc.code, exc.message)))
        except OSError as exc:
            yield Entry(None, DocumentResult(doc_id, error=DocumentError("corrupt_document", f"cannot read: {exc}")))
        else:
            yield Entry(Document(doc_id, text), None)


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


def skip_done(entries: Iterator[Entry], done: set[str]) -> Iterator[Entry]:
    """The entries whose id is not in ``done`` (``--resume``)."""
    for entry in entries:
        entry_id = entry.document.id if entry.document else entry.error.id if entry.error else ""
        if entry_id not in done:
            yield entry


def _summarize_chunk(
    summarizer: Summarizer,
    chunk: list[Entry],
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
