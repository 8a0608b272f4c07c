"""The jobs protocol: what POST /v1/jobs takes and what the job endpoints answer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.features.jobs.records import JobRecord
from service.features.jobs.routing import NOT_SERVED, waiting_message
from service.features.protocol import NOT_BLANK
from service.features.summarize.protocol import BatchDocument, SummaryParams

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobDocument(BatchDocument):
    """A job's document: unlike a batch item, a bad one refuses the whole job (422 invalid_documents)."""

    text: str = Field(
        description="At least one character other than white space, at most DOCSUM_MAX_DOCUMENT_CHARS characters, "
        "no U+0000.",
        json_schema_extra=NOT_BLANK,
    )


class JobRequest(SummaryParams):
    """JSON form of a job; the same job can be uploaded as a JSONL or CSV file (multipart field `file`)."""

    documents: list[JobDocument] = Field(min_length=1)
    webhook_url: str | None = Field(
        None,
        max_length=2048,
        description="Called (a signed POST) when the job ends; its host must be on the server's allow-list "
        "(DOCSUM_WEBHOOK_HOSTS), else 422 webhook_not_allowed.",
    )


class JobProgress(BaseModel):
    total: int = Field(description="Documents in the job.")
    done: int = Field(description="Documents with a result line (a summary or an error).")
    failed: int = Field(description="Of those done, how many got an error.")


class JobError(BaseModel):
    code: str
    message: str


class JobWaiting(BaseModel):
    code: str = Field(description="model_not_served: no running replica has the job's model in its catalog.")
    message: str
    since: datetime = Field(description="Since when running replicas have found no replica that serves the model.")
    fails_at: datetime = Field(
        description="Unless a replica that serves the model starts before, the job fails then (error.code "
        "model_not_served); DOCSUM_JOB_UNSERVED_HOURS after since."
    )


class JobWebhook(BaseModel):
    state: Literal["pending", "delivered", "failed"] = Field(
        description="pending (the job runs, or calls are being tried), delivered (a 2xx), failed (given up)."
    )
    attempts: int = Field(description="Calls made so far.")


class JobOut(BaseModel):
    id: str
    status: JobStatus = Field(
        description="queued, running, succeeded (every document has a result line; see progress.failed), "
        "failed (the job could not run: see error), cancelled."
    )
    model: str
    progress: JobProgress
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="After this the job and its results are gone (404).")
    error: JobError | None = None
    waiting: JobWaiting | None = Field(
        None, description="Why a queued or running job does not progress; absent while a replica can run it."
    )
    results_url: str = Field(description="JSONL, one line per finished document, in input order.")
    webhook: JobWebhook | None = Field(None, description="The job's webhook_url call, if it named one.")

    @classmethod
    def build(cls, job: JobRecord) -> JobOut:
        error = JobError(code=job.error_code, message=job.error_message or "") if job.error_code else None
        return cls(
            id=job.id,
            status=job.status,
            model=job.model,
            progress=JobProgress(total=job.total, done=job.done, failed=job.failed),
            created_at=_time(job.created_at),
            started_at=_time(job.started_at),
            finished_at=_time(job.finished_at),
            expires_at=_time(job.expires_at),
            error=error,
            waiting=_waiting(job),
            results_url=f"/v1/jobs/{job.id}/results",
            webhook=JobWebhook(state=job.webhook_state, attempts=job.webhook_attempts) if job.webhook_state else None,
        )


class JobList(BaseModel):
    jobs: list[JobOut]


def _waiting(job: JobRecord) -> JobWaiting | None:
    if job.waiting_since is None or job.fails_at is None:
        return None
    return JobWaiting(
        code=NOT_SERVED,
        message=waiting_message(job.model),
        since=datetime.fromtimestamp(job.waiting_since, UTC),
        fails_at=datetime.fromtimestamp(job.fails_at, UTC),
    )


def _time(stamp: float | None) -> datetime | None:
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)
