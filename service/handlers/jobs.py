"""The work behind /v1/jobs: read and validate a whole job, store it, answer from the store.

A job is all or nothing: every document is checked (a JSON object with an id and
a non-empty text within the size limit, no duplicate id) before anything is
stored, and a job with bad documents is refused with 422 ``invalid_documents``,
whose error object lists them. Callers are told apart by their
``Authorization`` header (docsum does not check it; a proxy in front may):
jobs and idempotency keys of one caller are invisible to another.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import iterate_in_threadpool
from starlette.datastructures import UploadFile

from service.batchfile import parse_line
from service.engine import Engine
from service.errors import InvalidRequest, NotFound, UnsupportedMediaType
from service.jobs.records import IdempotencyConflict, JobRecord
from service.jobs.schemas import JobList, JobOut, JobRequest
from service.jobs.store import JobStore
from service.jobs.worker import JobWorker
from service.schemas import SummaryParams
from service.settings import Settings

# Problems listed in one 422; the count says how many there were in all.
_MAX_LISTED_PROBLEMS = 50
_MAX_IDEMPOTENCY_KEY = 255


@dataclass(frozen=True, slots=True)
class _Submission:
    params: SummaryParams
    documents: list[tuple[str, str]]


class JobsHandler:
    def __init__(self, store: JobStore, worker: JobWorker, engine: Engine, settings: Settings) -> None:
        self.store = store
        self.worker = worker
        self.engine = engine
        self.settings = settings

    async def create(self, request: Request) -> tuple[JobOut, bool]:
        """Store a new job; ``(job, False)`` replays the job an earlier request with the same key made."""
        key = _idempotency_key(request)
        submission = await self._read(request)
        params = submission.params
        model = params.model or self.settings.default_model
        self._check_query(params)
        summarizer = await self.engine.load(model)  # unknown 404, unavailable 503: refused now, not later
        summarizer.check_options(params.to_options())
        stored_params = params.model_dump(exclude_defaults=True, exclude={"model"})
        digest = _request_hash(model, stored_params, submission.documents) if key else None
        try:
            job, created = await asyncio.to_thread(
                self.store.create,
                _owner(request),
                model,
                stored_params,
                submission.documents,
                idempotency_key=key,
                request_hash=digest,
            )
        except IdempotencyConflict:
            raise InvalidRequest(
                "this Idempotency-Key was used with a different request",
                code="idempotency_key_reused",
                param="Idempotency-Key",
            ) from None
        self.worker.notify()
        return JobOut.build(job), created

    async def get(self, request: Request, job_id: str) -> JobOut:
        return JobOut.build(await self._job(request, job_id))

    async def list_jobs(self, request: Request, limit: int, offset: int, status: str | None) -> JobList:
        records = await asyncio.to_thread(self.store.list, _owner(request), limit=limit, offset=offset, status=status)
        return JobList(jobs=[JobOut.build(record) for record in records])

    async def cancel(self, request: Request, job_id: str) -> JobOut:
        await self._job(request, job_id)
        job = await asyncio.to_thread(self.store.cancel, _owner(request), job_id)
        if job is None:
            raise _not_found(job_id)
        self.worker.cancel_local(job_id)
        return JobOut.build(job)

    async def results(self, request: Request, job_id: str) -> tuple[JobRecord, AsyncIterator[str]]:
        job = await self._job(request, job_id)
        lines = iterate_in_threadpool(line + "\n" for line in self.store.results(job_id))
        return job, lines

    async def _job(self, request: Request, job_id: str) -> JobRecord:
        job = await asyncio.to_thread(self.store.get, _owner(request), job_id)
        if job is None:
            raise _not_found(job_id)
        return job

    # -- reading a submission ---------------------------------------------------------------

    async def _read(self, request: Request) -> _Submission:
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "application/json":
            submission = _from_json(await request.body())
        elif content_type == "multipart/form-data":
            submission = await self._from_upload(request)
        else:
            raise UnsupportedMediaType(
                "send the job as application/json, or as multipart/form-data with a JSONL `file`",
                param="Content-Type",
            )
        self._check_documents(submission.documents)
        return submission

    async def _from_upload(self, request: Request) -> _Submission:
        async with request.form(max_files=1, max_fields=32) as form:  # closes the spooled upload
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise InvalidRequest("the upload has no `file` part (a JSONL file)", param="file")
            fields = {name: value for name, value in form.items() if name != "file" and isinstance(value, str)}
            try:
                params = SummaryParams.model_validate(fields)
            except ValidationError as exc:
                raise RequestValidationError(exc.errors()) from None
            documents, problems = await asyncio.to_thread(_read_jsonl, upload.file)
        if problems:
            raise _invalid_documents(problems, "line")
        if not documents:
            raise InvalidRequest("the uploaded file holds no documents", param="file")
        return _Submission(params, documents)

    def _check_documents(self, documents: list[tuple[str, str]]) -> None:
        limit = self.settings.max_job_documents
        if len(documents) > limit:
            raise InvalidRequest(
                f"{len(documents)} documents; a job takes at most {limit}", code="too_many_documents", param="documents"
            )
        problems: list[dict[str, object]] = []
        counts = Counter(doc_id for doc_id, _ in documents)
        max_chars = self.settings.max_document_chars
        for position, (doc_id, text) in enumerate(documents, start=1):
            if counts[doc_id] > 1:
                problems.append(_problem(position, doc_id, "duplicate_id", f"id {doc_id!r} appears more than once"))
            elif not text.strip():
                problems.append(_problem(position, doc_id, "empty_document", "the text is empty"))
            elif len(text) > max_chars:
                message = f"the text has {len(text)} characters; the limit is {max_chars}"
                problems.append(_problem(position, doc_id, "document_too_large", message))
        if problems:
            raise _invalid_documents(problems, "document")

    def _check_query(self, params: SummaryParams) -> None:
        if params.query is not None and len(params.query) > self.settings.max_query_chars:
            raise InvalidRequest(
                f"query has {len(params.query)} characters; the limit is {self.settings.max_query_chars}",
                code="query_too_long",
                param="query",
            )


def _from_json(body: bytes) -> _Submission:
    try:
        request = JobRequest.model_validate_json(body)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors()) from None
    params = SummaryParams.model_validate(request.model_dump(exclude={"documents"}))
    return _Submission(params, [(doc.id, doc.text) for doc in request.documents])


def _read_jsonl(handle: Any) -> tuple[list[tuple[str, str]], list[dict[str, object]]]:
    """Documents of a ``docsum batch`` input file, or the problems of its bad lines."""
    documents: list[tuple[str, str]] = []
    problems: list[dict[str, object]] = []
    text = io.TextIOWrapper(handle, encoding="utf-8", errors="strict", newline=None)
    try:
        for number, line in enumerate(text, start=1):
            if not line.strip():
                continue
            entry = parse_line(line, number)
            if entry.document is not None:
                documents.append((entry.document.id, entry.document.text))
            elif entry.error is not None and entry.error.error is not None:
                problems.append(_problem(number, None, "invalid_line", entry.error.error.message))
    except UnicodeDecodeError as exc:
        problems.append(_problem(None, None, "invalid_encoding", f"the file is not UTF-8: {exc.reason}"))
    finally:
        text.detach()
    return documents, problems


def _problem(position: int | None, doc_id: str | None, code: str, message: str) -> dict[str, object]:
    return {"position": position, "id": doc_id, "code": code, "message": message}


def _invalid_documents(problems: list[dict[str, object]], unit: str) -> InvalidRequest:
    listed = problems[:_MAX_LISTED_PROBLEMS]
    where = ", ".join(str(p["position"]) for p in listed[:10] if p["position"] is not None)
    message = f"{len(problems)} bad {unit}{'s' if len(problems) > 1 else ''}; nothing was stored"
    if where:
        message += f" ({unit} {where}{', ...' if len(problems) > 10 else ''})"
    details = {"problems": listed, "problem_count": len(problems), "position_is": f"{unit} number, from 1"}
    return InvalidRequest(message, code="invalid_documents", param="documents", details=details)


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} printable characters", param="Idempotency-Key"
        )
    return key


def _owner(request: Request) -> str:
    """Who is asking, as far as jobs are concerned: a digest of the Authorization header."""
    credentials = request.headers.get("authorization", "")
    return hashlib.sha256(credentials.encode()).hexdigest()[:32] if credentials else "anonymous"


def _request_hash(model: str, params: dict[str, Any], documents: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256(json.dumps({"model": model, "params": params}, sort_keys=True).encode())
    for doc_id, text in documents:
        digest.update(json.dumps([doc_id, text]).encode())
    return digest.hexdigest()


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"no job {job_id!r} (it may have expired)", code="job_not_found", param="job_id")
