"""What the job store hands out: jobs, claims on their documents, and the results workers give back."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from service.errors import InvalidRequest
from service.features.jobs.options import JobOptions
from service.features.jobs.tables import ACTIVE


class IdempotencyConflict(InvalidRequest):
    """The idempotency key was used before with a different request (422 ``idempotency_key_reused``)."""

    code = "idempotency_key_reused"

    def __init__(self) -> None:  # the key itself is never echoed: callers may use secret-like values
        super().__init__("this Idempotency-Key was used with a different request", param="Idempotency-Key")


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: str
    status: str
    model: str
    total: int
    done: int
    failed: int
    created_at: float
    started_at: float | None
    finished_at: float | None
    expires_at: float | None
    error_code: str | None
    error_message: str | None
    # An active job whose model no running replica serves: since when, and when it fails for that.
    waiting_since: float | None = None
    fails_at: float | None = None
    # A job with a webhook: pending, delivered or failed, and the calls made so far.
    webhook_state: str | None = None
    webhook_attempts: int = 0


@dataclass(frozen=True, slots=True)
class ClaimedDocument:
    seq: int
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Claim:
    """Documents of one job that this replica holds until ``complete`` or the lease lapses."""

    job_id: str
    token: str
    model: str
    options: JobOptions
    documents: tuple[ClaimedDocument, ...]


@dataclass(frozen=True, slots=True)
class Outcome:
    seq: int
    line: str  # the JSON result line, as ``docsum batch`` writes it
    failed: bool


def expired(row: Any, now: float) -> bool:
    return row.expires_at is not None and row.expires_at <= now


def job_record(row: Any, unserved_seconds: float) -> JobRecord:
    """A row of ``docsum_jobs`` with the ``waiting_since`` of its wait, if it has one."""
    waiting_since = row.waiting_since if row.status in ACTIVE else None
    return JobRecord(
        id=row.id,
        status=row.status,
        model=row.model,
        total=row.total,
        done=row.done,
        failed=row.failed,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
        error_code=row.error_code,
        error_message=row.error_message,
        waiting_since=waiting_since,
        fails_at=None if waiting_since is None else waiting_since + unserved_seconds,
        webhook_state=row.webhook_state,
        webhook_attempts=row.webhook_attempts or 0,
    )
