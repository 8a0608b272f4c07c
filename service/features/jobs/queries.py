"""The store's longer SQL: jobs with their wait and webhook state, and the deletion of expired jobs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, select
from sqlalchemy.engine import Engine as Database

from service.features.jobs.tables import documents, job_waits, jobs, release_space, webhooks


def delete_expired(database: Database, now: float) -> int:
    """Delete jobs past their retention at ``now``, with everything they stored; returns how many."""
    with database.begin() as conn:
        expired = select(jobs.c.id).where(jobs.c.expires_at < now).scalar_subquery()
        for table in (documents, job_waits, webhooks):
            conn.execute(delete(table).where(table.c.job_id.in_(expired)))
        swept = int(conn.execute(delete(jobs).where(jobs.c.expires_at < now)).rowcount)
    if swept:
        release_space(database)  # SQLite gives the pages back to the file system
    return swept


def select_jobs() -> Select[Any]:
    """Jobs with the time their wait began (``waiting_since``), if they are waiting for a replica, and
    their webhook's state."""
    hook = (webhooks.c.state.label("webhook_state"), webhooks.c.attempts.label("webhook_attempts"))
    return select(jobs, job_waits.c.since.label("waiting_since"), *hook).select_from(
        jobs.outerjoin(job_waits, job_waits.c.job_id == jobs.c.id).outerjoin(webhooks, webhooks.c.job_id == jobs.c.id)
    )
