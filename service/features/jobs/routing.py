"""Which replica runs a job: only one that has the job's model in its catalog.

Every replica stamps the model names of its catalog in ``docsum_served_models`` a
few times per lease (``JobStore.watch``), and claims only documents of jobs whose
model is among its own names (``JobStore.claim``), so a replica without the
model leaves the job alone instead of failing it with ``model_not_found``.

A model whose stamp is older than a lease has no running replica. An active job
of such a model waits: ``docsum_job_waits`` says since when, and GET
/v1/jobs/{id} shows it (``waiting``). Only time that running replicas watched
counts: after a pause with no replica at all (the whole service was down), the
clock starts again. A job that waited ``unserved_seconds`` is failed with
``model_not_served`` by whichever replica looks next.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection

from sqlalchemy import Float, Select, case, delete, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from service.features.jobs.tables import ACTIVE, Database, job_waits, jobs, served_models

NOT_SERVED = "model_not_served"


def live_models(now: float, live_seconds: float) -> Select[str]:
    """Names that a running replica stamped within ``live_seconds``."""
    return select(served_models.c.model).where(served_models.c.seen_at >= now - live_seconds)


def stamp(database: Database, models: Collection[str], now: float) -> None:
    """Record that a running replica serves ``models`` (its catalog) as of ``now``."""
    names = sorted(set(models))
    if not names:
        return
    with database.begin() as conn:
        conn.execute(
            update(served_models)
            .where(served_models.c.model.in_(names), served_models.c.seen_at < now)
            .values(seen_at=now)
        )
        known = set(conn.execute(select(served_models.c.model).where(served_models.c.model.in_(names))).scalars())
    missing = [{"model": name, "seen_at": now} for name in names if name not in known]
    if missing:
        # Another replica may add the same names at the same moment; then its stamp stands for now.
        with contextlib.suppress(IntegrityError), database.begin() as conn:
            conn.execute(insert(served_models), missing)


def track_waits(database: Database, now: float, live_seconds: float, gap_seconds: float) -> None:
    """Note active jobs that no running replica serves, forget those that are served (or finished) again.

    A wait last looked at more than ``gap_seconds`` ago was not watched meanwhile: its clock restarts.
    """
    live = live_models(now, live_seconds)
    unserved = select(jobs.c.id).where(jobs.c.status.in_(ACTIVE), jobs.c.model.not_in(live))
    untracked = ~select(job_waits.c.job_id).where(job_waits.c.job_id == jobs.c.id).exists()
    stamp_now = literal(now, Float)
    # Two replicas may insert the same wait at once; the loser's next look catches up.
    with contextlib.suppress(IntegrityError), database.begin() as conn:
        conn.execute(delete(job_waits).where(job_waits.c.job_id.not_in(unserved)))
        conn.execute(
            update(job_waits).values(
                since=case((job_waits.c.checked_at < now - gap_seconds, stamp_now), else_=job_waits.c.since),
                checked_at=stamp_now,
            )
        )
        conn.execute(
            insert(job_waits).from_select(
                ["job_id", "since", "checked_at"],
                select(jobs.c.id, stamp_now, stamp_now).where(
                    jobs.c.status.in_(ACTIVE), jobs.c.model.not_in(live), untracked
                ),
            )
        )


def overdue(now: float, live_seconds: float, unserved_seconds: float) -> Select[str, str]:
    """Active jobs (id, model) whose model no running replica served for ``unserved_seconds``."""
    return (
        select(jobs.c.id, jobs.c.model)
        .join(job_waits, job_waits.c.job_id == jobs.c.id)
        .where(
            job_waits.c.since <= now - unserved_seconds,
            jobs.c.status.in_(ACTIVE),
            jobs.c.model.not_in(live_models(now, live_seconds)),
        )
    )


def not_served_message(model: str, unserved_seconds: float) -> str:
    return (
        f"no running replica serves model {model!r} (none has it in its catalog); the job waited "
        f"{_duration(unserved_seconds)} for one (DOCSUM_JOB_UNSERVED_HOURS)"
    )


def waiting_message(model: str) -> str:
    return (
        f"no running replica serves model {model!r} (none has it in its catalog); the job waits for one "
        f"and fails with {NOT_SERVED} at fails_at"
    )


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g} h"
    if seconds >= 60:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
