"""The work behind /v1/jobs: read and validate a whole job (``submission``), store it with its
options as a record of their own (``options.JobOptions``), answer from the store.

A job with bad documents is refused as a whole with 422 ``invalid_documents``,
whose error object lists every problem at once. A job belongs to the API key that
submitted it (``service.auth``; in open mode every caller is ``anonymous``): jobs and
idempotency keys of one key are invisible to another. A job's documents count against
its key's daily quotas of documents and stored bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator, Iterable
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.concurrency import iterate_in_threadpool
from starlette.datastructures import UploadFile

from models.documents import DocumentFileError, ExtractedDocument
from service.auth.gate import Caller
from service.documents import read_document
from service.engine import Engine
from service.errors import InvalidRequest, NotFound, UnsupportedMediaType, shorten
from service.features.base import ServingBase
from service.features.body import is_json, media_type
from service.features.jobs.options import JobOptions
from service.features.jobs.protocol import JobList, JobOut
from service.features.jobs.records import JobRecord
from service.features.jobs.store import JobStore
from service.features.jobs.submission import (
    Submission,
    check_count,
    check_documents,
    from_json,
    from_upload,
    is_collection,
    problem,
    validate_params,
)
from service.features.jobs.tables import ACTIVE
from service.features.jobs.webhook_policy import WebhookPolicy
from service.features.jobs.worker import JobWorker
from service.features.summarize.protocol import SummaryParams
from service.features.summarize.upload import read_form
from service.provider import dependency
from service.settings import Settings

_MAX_IDEMPOTENCY_KEY = 255


class JobsServing(ServingBase):
    def __init__(
        self, store: JobStore, worker: JobWorker, engine: Engine, settings: Settings, webhooks: WebhookPolicy
    ) -> None:
        super().__init__(engine, settings)
        self.store = store
        self.worker = worker
        self.webhooks = webhooks

    async def create(self, request: Request, caller: Caller) -> tuple[JobOut, bool]:
        """Store a new job; ``(job, False)`` replays the job an earlier request with the same key made."""
        key = _idempotency_key(request)
        submission = await self._read(request)
        webhook_url = submission.webhook_url
        if webhook_url is not None:  # refused now (422 webhook_not_allowed), not when the job ends
            await asyncio.to_thread(self.webhooks.check, webhook_url)
        params = submission.params
        model = self.model_name(params.model)
        self.check_query(params.query)
        options = params.to_options()
        (await self.summarizer(model)).check_options(options)  # unknown 404, unavailable 503: refused now
        # The request as the caller sent it, for the idempotency key; the job keeps its own record (JobOptions).
        sent = {**_sent_options(params), **({"webhook_url": webhook_url} if webhook_url else {})}
        digest = _request_hash(model, sent, submission.documents) if key else None
        if key is not None:  # a replay is answered before the quotas: it stores nothing
            replayed = await asyncio.to_thread(self.store.by_key, caller.owner, key, digest)
            if replayed is not None:
                return JobOut.build(replayed), False
        stored = stored_bytes(submission.documents)
        await caller.job(len(submission.documents), stored)  # 429 quota_exceeded: nothing is stored
        try:
            # A reused key with another request raises IdempotencyConflict: 422 idempotency_key_reused.
            job, created = await asyncio.to_thread(
                self.store.create,
                caller.owner,
                model,
                JobOptions.of(options),
                submission.documents,
                idempotency_key=key,
                request_hash=digest,
                webhook_url=webhook_url,
            )
        except BaseException:
            await caller.give_back_job(len(submission.documents), stored)
            raise
        if not created:  # the same key raced in from another request, which stored the job
            await caller.give_back_job(len(submission.documents), stored)
        self.worker.notify()
        return JobOut.build(job), created

    async def get(self, owner: str, job_id: str) -> JobOut:
        return JobOut.build(await self._job(owner, job_id))

    async def list_jobs(self, owner: str, limit: int, offset: int, status: str | None) -> JobList:
        records = await asyncio.to_thread(self.store.list, owner, limit=limit, offset=offset, status=status)
        return JobList(jobs=[JobOut.build(record) for record in records])

    async def delete(self, owner: str, job_id: str) -> JobOut:
        """An active job is cancelled and its documents' texts dropped (its results stay readable until it
        expires); a finished one is deleted with everything it stored (then it is 404)."""
        job = await self._job(owner, job_id)
        if job.status in ACTIVE:
            cancelled = await asyncio.to_thread(self.store.cancel, owner, job_id)
            self.worker.cancel_local(job_id)
            if cancelled is None:
                raise _not_found(job_id)
            return JobOut.build(cancelled)
        await asyncio.to_thread(self.store.purge, owner, job_id)
        return JobOut.build(job)

    async def results(self, owner: str, job_id: str) -> tuple[JobRecord, AsyncIterator[str]]:
        job = await self._job(owner, job_id)
        lines = iterate_in_threadpool(line + "\n" for line in self.store.results(job_id))
        return job, lines

    async def _job(self, owner: str, job_id: str) -> JobRecord:
        if "\x00" in job_id:  # no job has one, and PostgreSQL refuses to compare text holding NUL
            raise _not_found(job_id)
        job = await asyncio.to_thread(self.store.get, owner, job_id)
        if job is None:
            raise _not_found(job_id)
        return job

    # -- reading a submission ---------------------------------------------------------------

    async def _read(self, request: Request) -> Submission:
        if is_json(request):
            body = await request.body()
            submission = await asyncio.to_thread(from_json, body, self.settings.max_job_documents)
        elif media_type(request) == "multipart/form-data":
            submission = await self._from_upload(request)
            check_count(len(submission.documents), self.settings.max_job_documents)
        else:
            raise UnsupportedMediaType(
                "send the job as application/json, or as multipart/form-data with a JSONL (or CSV) `file` or "
                "documents as `file` parts",
                param="Content-Type",
            )
        check_documents(submission, self.settings.max_document_chars)
        return submission

    async def _from_upload(self, request: Request) -> Submission:
        form = await read_form(request, max_files=self.settings.max_job_files)
        try:
            uploads = [value for name, value in form.multi_items() if name == "file" and isinstance(value, UploadFile)]
            if not uploads:
                raise InvalidRequest("the upload has no `file` part (a JSONL or CSV file, or documents)", param="file")
            fields = {name: value for name, value in form.items() if name != "file" and isinstance(value, str)}
            webhook_url = fields.pop("webhook_url", None)
            params = validate_params(fields, strict=False)
            if len(uploads) == 1 and is_collection(uploads[0].filename, await _head(uploads[0])):
                submission = await asyncio.to_thread(from_upload, uploads[0].file, params, uploads[0].filename)
            else:
                submission = await self._from_files(uploads, params)
            submission.webhook_url = webhook_url
            return submission
        finally:
            await form.close()  # the spooled uploads

    async def _from_files(self, uploads: list[UploadFile], params: SummaryParams) -> Submission:
        """Each file one document, named by its file name; a file that cannot be read is a problem of the job."""
        names = [upload.filename or f"file-{position}" for position, upload in enumerate(uploads, start=1)]
        for name, upload in zip(names, uploads, strict=True):
            if is_collection(upload.filename, await _head(upload)) and len(uploads) > 1:
                raise InvalidRequest(
                    f"{shorten(name)}: a JSONL or CSV file must be the only file of a job", param="file"
                )

        async def read(name: str, upload: UploadFile) -> ExtractedDocument | DocumentFileError:
            try:
                return await read_document(self.settings, await upload.read(), name)
            except DocumentFileError as exc:
                return exc

        documents = await asyncio.gather(*(read(name, upload) for name, upload in zip(names, uploads, strict=True)))
        submission = Submission(params, "file")
        for position, (name, document) in enumerate(zip(names, documents, strict=True), start=1):
            if isinstance(document, DocumentFileError):
                submission.problems.append(problem(position, name, document.code, document.message))
            else:
                submission.add(position, name, document.text)
        return submission


async def _head(upload: UploadFile) -> bytes:
    """The first bytes of an upload, which is left where it was."""
    head = await upload.read(4096)
    await upload.seek(0)
    return head


def _idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    if not key or len(key) > _MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidRequest(
            f"Idempotency-Key must be 1 to {_MAX_IDEMPOTENCY_KEY} printable characters", param="Idempotency-Key"
        )
    return key


def stored_bytes(documents: Iterable[tuple[str, str]]) -> int:
    """What a job's documents take in the store, as its key's quota counts them: ids and texts in UTF-8."""
    return sum(len(doc_id.encode()) + len(text.encode()) for doc_id, text in documents)


def _sent_options(params: SummaryParams) -> dict[str, Any]:
    """The options a request set (those left at their defaults omitted), as its idempotency hash covers them."""
    return params.model_dump(exclude_defaults=True, exclude={"model"})


def _request_hash(model: str, params: dict[str, Any], documents: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256(json.dumps({"model": model, "params": params}, sort_keys=True).encode())
    for doc_id, text in documents:
        digest.update(json.dumps([doc_id, text]).encode())
    return digest.hexdigest()


def _not_found(job_id: str) -> NotFound:
    return NotFound(f"no job {shorten(job_id)!r} (it may have expired)", code="job_not_found", param="job_id")


# A route's typed parameter: ``serving: JobsServingDep`` (``service.provider``).
JobsServingDep = Annotated[JobsServing, Depends(dependency(JobsServing))]
