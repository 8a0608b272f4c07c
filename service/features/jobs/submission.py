"""Reading a job as POST /v1/jobs takes it, JSON or an uploaded file, and every problem it has.

An upload is read by the input format (:mod:`models.inputs`) its filename's suffix names:
CSV for ``.csv``, else JSONL, the ``docsum batch`` line format; or, when it is a document
(``is_collection``) or one of several files, each file is one document named by its file name.

A job is all or nothing: every document is checked (a JSON object with an id and a
non-empty text within the size limit, no duplicate id) before anything is stored,
and all problems are reported in one 422 ``invalid_documents``, whatever their kind:
bad lines, invalid documents, duplicates, empty or oversized texts.
"""

from __future__ import annotations

import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from models.documents import DocumentFileError, sniff
from models.inputs import InputError, Record, format_for, formats
from service.errors import InvalidRequest, shorten
from service.features.base import over_limit
from service.features.body import parse_json
from service.features.jobs.protocol import JobDocument
from service.features.summarize.protocol import SummaryParams

# Problems listed in one 422; the count says how many there were in all.
_MAX_LISTED_PROBLEMS = 50
_MAX_ID_CHARS = 256


@dataclass(slots=True)
class Submission:
    """A job as read: ``positions`` are each document's line or row (upload) or place (JSON), from 1."""

    params: SummaryParams
    unit: str  # "line", "row" (the upload's format's unit) or "document": what positions count
    documents: list[tuple[str, str]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    problems: list[dict[str, object]] = field(default_factory=list)
    webhook_url: str | None = None  # checked against the server's policy by the caller (webhook_policy)

    def add(self, position: int, doc_id: str, text: str) -> None:
        self.documents.append((doc_id, text))
        self.positions.append(position)


def validate_params(fields: dict[str, Any], *, strict: bool = True) -> SummaryParams:
    """Summary options; form fields are strings, so an upload's are read with coercion."""
    try:
        return SummaryParams.model_validate(fields, strict=strict)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None


def from_json(body: bytes, max_documents: int) -> Submission:
    raw = parse_json(body)
    if not isinstance(raw, dict):
        raise InvalidRequest("the body must be a JSON object with `documents`")
    listed = raw.pop("documents", None)
    webhook_url = raw.pop("webhook_url", None)
    if webhook_url is not None and not isinstance(webhook_url, str):
        raise InvalidRequest("webhook_url: a URL string is required", param="webhook_url")
    submission = Submission(validate_params(raw), "document", webhook_url=webhook_url)
    if not isinstance(listed, list) or not listed:
        raise InvalidRequest("documents: a non-empty list of {id, text} objects is required", param="documents")
    check_count(len(listed), max_documents)
    for position, item in enumerate(listed, start=1):
        try:
            document = JobDocument.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            message = f"{where}: {first['msg']}" if where else str(first["msg"])
            submission.problems.append(problem(position, _id_of(item), "invalid_document", message))
            continue
        submission.add(position, document.id, document.text)
    return submission


def from_upload(handle: Any, params: SummaryParams, filename: str | None = None) -> Submission:
    """The documents of an uploaded file (binary), in the format its ``filename`` names (JSONL by
    default), and the problems of its bad lines or rows. A file the format cannot read at all is a 422."""
    fmt = format_for(PurePath(filename or "upload"))
    submission = Submission(params, fmt.unit)
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="strict", newline=None)
    try:
        for item in fmt.read(text):
            if isinstance(item, Record):
                submission.add(item.number, item.id, item.text)
            else:
                submission.problems.append(problem(item.number, None, item.code, item.message))
    except UnicodeDecodeError as exc:
        submission.problems.append(problem(None, None, "invalid_encoding", f"the file is not UTF-8: {exc.reason}"))
    except InputError as exc:
        raise InvalidRequest(f"the uploaded file cannot be read as {fmt.name.upper()}: {exc}", param="file") from None
    finally:
        text.detach()
    return submission


# Files named so are documents, whatever they hold; a JSONL or CSV collection is named by its format's suffix.
_DOCUMENT_SUFFIXES = (".pdf", ".docx", ".html", ".htm", ".xhtml", ".md", ".markdown", ".txt", ".eml")


def is_collection(filename: str | None, head: bytes) -> bool:
    """Whether an uploaded file is a collection of documents (JSONL, CSV: ``docsum batch`` input) rather than
    one document: by its suffix, else by content (a PDF, DOCX, HTML page or e-mail is a document; anything
    else is read as JSONL, as before documents were taken)."""
    suffix = PurePath(filename or "").suffix.lower()
    if any(suffix in fmt.suffixes for fmt in formats()):
        return True
    if suffix in _DOCUMENT_SUFFIXES:
        return False
    try:
        return sniff(head, filename) not in ("pdf", "docx", "html", "email")
    except DocumentFileError:
        return False  # not text at all: a document, whose problem the extraction names


def check_count(count: int, limit: int) -> None:
    if count > limit:
        raise InvalidRequest(
            f"{count} documents; a job takes at most {limit}", code="too_many_documents", param="documents"
        )


def check_documents(submission: Submission, max_chars: int) -> None:
    """Raise one 422 invalid_documents listing every problem, those found while reading included."""
    problems = list(submission.problems)
    counts = Counter(doc_id for doc_id, _ in submission.documents)
    for position, (doc_id, text) in zip(submission.positions, submission.documents, strict=True):
        found = _document_problem(doc_id, text, counts[doc_id] > 1, max_chars)
        if found is not None:
            problems.append(problem(position, doc_id, *found))
    if problems:
        problems.sort(key=lambda p: p["position"] if isinstance(p["position"], int) else 0)
        raise invalid_documents(problems, submission.unit)
    if not submission.documents:
        raise InvalidRequest("the uploaded file holds no documents", param="file")


def _document_problem(doc_id: str, text: str, duplicate: bool, max_chars: int) -> tuple[str, str] | None:
    if len(doc_id) > _MAX_ID_CHARS:
        return "invalid_document", f"the id has {len(doc_id)} characters; the limit is {_MAX_ID_CHARS}"
    if "\x00" in doc_id or "\x00" in text:
        # PostgreSQL text cannot hold U+0000; refused on every store, so a job behaves the same on each.
        return "invalid_document", "the id or text holds U+0000 (NUL), which a job cannot store"
    if duplicate:
        return "duplicate_id", f"id {shorten(doc_id)!r} appears more than once"
    if not text.strip():
        return "empty_document", "the text is empty"
    if (reason := over_limit(text, max_chars)) is not None:
        return "document_too_large", f"the text {reason}"
    return None


def problem(position: int | None, doc_id: str | None, code: str, message: str) -> dict[str, object]:
    shown = shorten(doc_id, _MAX_ID_CHARS) if doc_id is not None else None
    return {"position": position, "id": shown, "code": code, "message": message}


def invalid_documents(problems: list[dict[str, object]], unit: str) -> InvalidRequest:
    listed = problems[:_MAX_LISTED_PROBLEMS]
    where = ", ".join(str(p["position"]) for p in listed[:10] if p["position"] is not None)
    message = f"{len(problems)} bad {unit}{'s' if len(problems) > 1 else ''}; nothing was stored"
    if where:
        message += f" ({unit} {where}{', ...' if len(problems) > 10 else ''})"
    details = {"problems": listed, "problem_count": len(problems), "position_is": f"{unit} number, from 1"}
    return InvalidRequest(message, code="invalid_documents", param="documents", details=details)


def _id_of(item: object) -> str | None:
    doc_id = item.get("id") if isinstance(item, dict) else None
    return doc_id if isinstance(doc_id, str) else None
