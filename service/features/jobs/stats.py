"""What the job store holds, counted for ``/metrics`` (``docsum_jobs``)."""

from __future__ import annotations

from sqlalchemy import func, select

from service.features.jobs.store import JobStore
from service.features.jobs.tables import jobs


def count_jobs(store: JobStore) -> dict[str, int]:
    """Jobs by status, finished ones kept until their retention ends included: one indexed query."""
    with store.database.connect() as connection:
        rows = connection.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
        return {str(status): int(count) for status, count in rows}
