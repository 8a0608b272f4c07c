"""Jobs, their documents and results in one SQL database, with leases on work.

SQLite (WAL) under ``DOCSUM_DATA_DIR`` serves one replica; any SQLAlchemy URL
(PostgreSQL) serves several replicas that share it. Every state change is one
short transaction, so a process killed at any point leaves the store consistent:

- A document is ``pending``, ``running`` (claimed: a claim token and a lease
  deadline) or ``done`` (its result line is stored).
- ``claim`` takes pending documents, and running ones whose lease has lapsed (their
  replica died), in one conditional UPDATE: the condition is re-checked on each row
  as it is written (PostgreSQL re-evaluates it after a concurrent update; SQLite
  writes one transaction at a time), so two replicas never hold the same document.
- ``complete`` stores a result only while the claim token still matches, so a
  replica that lost its lease cannot write a second result: every document ends
  with exactly one.

- A replica claims only jobs whose model is in its own catalog; a job whose model
  no running replica serves waits, and fails after ``unserved_seconds`` (see
  ``routing``).

Times are Unix seconds from the replica's clock; replicas sharing a database
should keep their clocks in sync (NTP) to within a small part of the lease.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Sequence

from sqlalchemy import ColumnElement, Connection, and_, delete, insert, or_, select, true, update
from sqlalchemy.exc import IntegrityError

from service.features.jobs import routing
from service.features.jobs.options import INVALID_OPTIONS, JobOptions, UnreadableOptions
from service.features.jobs.queries import delete_expired, select_jobs
from service.features.jobs.records import (
    Claim,
    ClaimedDocument,
    IdempotencyConflict,
    JobRecord,
    Outcome,
    expired,
    job_record,
)
from service.features.jobs.tables import (
    ACTIVE,
    connect,
    documents,
    job_waits,
    jobs,
    metadata,
    release_space,
    webhooks,
)

logger = logging.getLogger(__name__)

# SQLite has no SKIP LOCKED: a replica that raced another for the same rows tries again this often.
_CLAIM_ATTEMPTS = 5


class JobStore:
    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float = 30.0,
        retention_seconds: float = 86400.0,
        unserved_seconds: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``clock``: Unix seconds now (tests pass their own)."""
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.retention_seconds = retention_seconds
        self.unserved_seconds = unserved_seconds
        self.database = connect(url)  # SQLAlchemy's connection pool to the store's database
        metadata.create_all(self.database)

    def close(self) -> None:
        self.database.dispose()

    # -- what callers submit and read --------------------------------------------------

    def create(
        self,
        owner: str,
        model: str,
        options: JobOptions,
        docs: Sequence[tuple[str, str]],
        *,
        idempotency_key: str | None = None,
        request_hash: str | None = None,
        webhook_url: str | None = None,
    ) -> tuple[JobRecord, bool]:
        """Store a job and all its documents at once; ``(job, False)`` when the key was seen with this request."""
        if idempotency_key is not None:
            existing = self.by_key(owner, idempotency_key, request_hash)
            if existing is not None:
                return existing, False
        job_id = uuid.uuid4().hex
        now = self.clock()
        try:
            with self.database.begin() as conn:
                conn.execute(
                    insert(jobs).values(
                        id=job_id,
                        owner=owner,
                        status="queued",
                        model=model,
                        params=options.encode(),
                        total=len(docs),
                        done=0,
                        failed=0,
                        created_at=now,
                        idempotency_key=idempotency_key,
                        request_hash=request_hash,
                    )
                )
                rows = [
                    {"job_id": job_id, "seq": seq, "doc_id": doc_id, "text": text, "state": "pending", "attempts": 0}
                    for seq, (doc_id, text) in enumerate(docs)
                ]
                for start in range(0, len(rows), 1000):
                    conn.execute(insert(documents), rows[start : start + 1000])
                if webhook_url:
                    conn.execute(insert(webhooks).values(job_id=job_id, url=webhook_url, state="pending", next_at=now))
        except IntegrityError:
            # The same key raced in from another request: the first one won.
            existing = self.by_key(owner, idempotency_key, request_hash) if idempotency_key else None
            if existing is None:
                raise
            return existing, False
        job = self.get(owner, job_id)
        assert job is not None
        return job, True

    def get(self, owner: str, job_id: str) -> JobRecord | None:
        """The job, or None if it does not exist, belongs to someone else or has expired."""
        with self.database.connect() as conn:
            row = conn.execute(select_jobs().where(jobs.c.id == job_id, jobs.c.owner == owner)).first()
        if row is None or expired(row, self.clock()):
            return None
        return job_record(row, self.unserved_seconds)

    def list(self, owner: str, *, limit: int, offset: int = 0, status: str | None = None) -> list[JobRecord]:
        now = self.clock()
        query = select_jobs().where(jobs.c.owner == owner, or_(jobs.c.expires_at.is_(None), jobs.c.expires_at > now))
        if status is not None:
            query = query.where(jobs.c.status == status)
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id).limit(limit).offset(offset)
        with self.database.connect() as conn:
            return [job_record(row, self.unserved_seconds) for row in conn.execute(query)]

    def cancel(self, owner: str, job_id: str) -> JobRecord | None:
        """Stop a queued or running job; finished documents keep their results, the texts of the others go.
        A finished job is left as is."""
        now = self.clock()
        with self.database.begin() as conn:
            cancelled = conn.execute(
                update(jobs)
                .where(jobs.c.id == job_id, jobs.c.owner == owner, jobs.c.status.in_(ACTIVE))
                .values(status="cancelled", finished_at=now, expires_at=now + self.retention_seconds)
            ).rowcount
            if cancelled:
                conn.execute(update(documents).where(documents.c.job_id == job_id).values(text=""))
        return self.get(owner, job_id)

    def purge(self, owner: str, job_id: str) -> bool:
        """Delete a job of this owner with everything it stored; False if there was none."""
        with self.database.begin() as conn:
            if conn.execute(select(jobs.c.id).where(jobs.c.id == job_id, jobs.c.owner == owner)).first() is None:
                return False
            conn.execute(delete(documents).where(documents.c.job_id == job_id))
            conn.execute(delete(job_waits).where(job_waits.c.job_id == job_id))
            conn.execute(delete(jobs).where(jobs.c.id == job_id))
        release_space(self.database)
        return True

    def results(self, job_id: str, *, page: int = 500) -> Iterator[str]:
        """Result lines of finished documents, in input order, read a page at a time."""
        after = -1
        while True:
            with self.database.connect() as conn:
                rows = conn.execute(
                    select(documents.c.seq, documents.c.result)
                    .where(documents.c.job_id == job_id, documents.c.state == "done", documents.c.seq > after)
                    .order_by(documents.c.seq)
                    .limit(page)
                ).all()
            for seq, line in rows:
                after = seq
                yield line
            if len(rows) < page:
                return

    # -- what workers do -----------------------------------------------------------------

    def claim(self, limit: int, models: Collection[str] | None = None) -> Claim | None:
        """Up to ``limit`` documents of the oldest job with work left, leased to the caller; None if none is left.

        ``models``: the caller's catalog; only jobs of these models are claimed (None: any model).
        A job whose stored options cannot be read fails here, once, with ``invalid_job_options``.
        """
        servable = true() if models is None else jobs.c.model.in_(sorted(set(models)))
        for _ in range(_CLAIM_ATTEMPTS):
            found, claim = self._try_claim(limit, servable)
            if claim is not None or not found:
                return claim
        return None  # lost every race for what was left (or failed what could not run); look again later

    def _try_claim(self, limit: int, servable: ColumnElement[bool]) -> tuple[bool, Claim | None]:
        """(whether a job had work, what this replica got of it: None when another replica was quicker,
        or when the job could not run and was failed)."""
        now = self.clock()
        claimable = or_(
            documents.c.state == "pending", and_(documents.c.state == "running", documents.c.lease_until < now)
        )
        with self.database.begin() as conn:
            job = conn.execute(
                select(jobs.c.id, jobs.c.model, jobs.c.params)
                .where(
                    jobs.c.status.in_(ACTIVE),
                    servable,
                    select(documents.c.seq).where(documents.c.job_id == jobs.c.id, claimable).exists(),
                )
                .order_by(jobs.c.created_at, jobs.c.id)
                .limit(1)
            ).first()
            if job is None:
                return False, None
            try:
                options = JobOptions.decode(job.params)
            except UnreadableOptions as exc:
                if self._fail(conn, job.id, INVALID_OPTIONS, str(exc)):
                    logger.error("job %s failed: %s", job.id, exc)
                return True, None
            token = uuid.uuid4().hex
            held = self._lease(conn, job.id, claimable, limit, token, now)
        if not held:
            return True, None
        return True, Claim(job.id, token, job.model, options, held)

    def _lease(
        self, conn: Connection, job_id: str, claimable: ColumnElement[bool], limit: int, token: str, now: float
    ) -> tuple[ClaimedDocument, ...]:
        """Lease up to ``limit`` claimable documents of the job under ``token``; the documents it got."""
        # Two statements, not UPDATE ... IN (SELECT ... LIMIT): PostgreSQL may run such a
        # subquery more than once and claim more rows than asked.
        chosen = (
            conn.execute(
                select(documents.c.seq)
                .where(documents.c.job_id == job_id, claimable)
                .order_by(documents.c.seq)
                .limit(limit)
                .with_for_update(skip_locked=True)  # PostgreSQL: replicas skip each other's rows
            )
            .scalars()
            .all()
        )
        conn.execute(
            update(documents)
            .where(documents.c.job_id == job_id, claimable, documents.c.seq.in_(chosen))
            .values(
                state="running",
                claim=token,
                lease_until=now + self.lease_seconds,
                attempts=documents.c.attempts + 1,
            )
        )
        conn.execute(
            update(jobs).where(jobs.c.id == job_id, jobs.c.status == "queued").values(status="running", started_at=now)
        )
        claimed = conn.execute(
            select(documents.c.seq, documents.c.doc_id, documents.c.text)
            .where(documents.c.job_id == job_id, documents.c.claim == token)
            .order_by(documents.c.seq)
        ).all()
        return tuple(ClaimedDocument(*row) for row in claimed)

    def renew(self, claim: Claim) -> bool:
        """Extend the lease; False if the claim was lost or its job is no longer active (stop working on it)."""
        with self.database.begin() as conn:
            status = conn.execute(select(jobs.c.status).where(jobs.c.id == claim.job_id)).scalar()
            if status not in ACTIVE:
                return False
            renewed = conn.execute(
                update(documents)
                .where(documents.c.job_id == claim.job_id, documents.c.claim == claim.token)
                .values(lease_until=self.clock() + self.lease_seconds)
            ).rowcount
        return bool(renewed)

    def complete(self, claim: Claim, outcomes: Sequence[Outcome]) -> int:
        """Store results the claim still holds; returns how many were stored. Finishes the job when none is left."""
        now = self.clock()
        stored = failed = 0
        with self.database.begin() as conn:
            for outcome in outcomes:
                written = conn.execute(
                    update(documents)
                    .where(
                        documents.c.job_id == claim.job_id,
                        documents.c.seq == outcome.seq,
                        documents.c.claim == claim.token,
                        documents.c.state == "running",
                    )
                    # The text is not needed any more: only the result line is kept.
                    .values(
                        state="done", text="", result=outcome.line, failed=outcome.failed, claim=None, lease_until=None
                    )
                ).rowcount
                stored += written
                if written and outcome.failed:
                    failed += 1
            if stored:
                conn.execute(
                    update(jobs)
                    .where(jobs.c.id == claim.job_id)
                    .values(done=jobs.c.done + stored, failed=jobs.c.failed + failed)
                )
            conn.execute(
                update(jobs)
                .where(jobs.c.id == claim.job_id, jobs.c.status == "running", jobs.c.done >= jobs.c.total)
                .values(status="succeeded", finished_at=now, expires_at=now + self.retention_seconds)
            )
        return stored

    def release(self, claim: Claim) -> None:
        """Give unfinished documents back at once (instead of waiting for the lease to lapse)."""
        with self.database.begin() as conn:
            conn.execute(
                update(documents)
                .where(documents.c.job_id == claim.job_id, documents.c.claim == claim.token)
                .values(state="pending", claim=None, lease_until=None)
            )

    def fail(self, job_id: str, code: str, message: str) -> None:
        """The job cannot run at all (its model will not load, an option is unsupported)."""
        with self.database.begin() as conn:
            self._fail(conn, job_id, code, message)

    def _fail(self, conn: Connection, job_id: str, code: str, message: str, *also: ColumnElement[bool]) -> bool:
        """Fail the job if it is active (and ``also`` holds); False if it was not."""
        now = self.clock()
        failed = conn.execute(
            update(jobs)
            .where(jobs.c.id == job_id, jobs.c.status.in_(ACTIVE), *also)
            .values(
                status="failed",
                finished_at=now,
                expires_at=now + self.retention_seconds,
                error_code=code,
                error_message=message,
            )
        ).rowcount
        if failed:
            conn.execute(
                update(documents)
                .where(documents.c.job_id == job_id, documents.c.state == "running")
                .values(state="pending", claim=None, lease_until=None)
            )
        return bool(failed)

    def watch(self, models: Collection[str]) -> int:
        """This replica serves ``models``: say so, note jobs no running replica serves, fail those overdue.

        Call every ``lease_seconds / 3`` or so; returns how many jobs were failed with ``model_not_served``.
        """
        now = self.clock()
        routing.stamp(self.database, models, now)
        routing.track_waits(self.database, now, self.lease_seconds, 2 * self.lease_seconds)
        failed = 0
        with self.database.begin() as conn:
            for job_id, model in conn.execute(routing.overdue(now, self.lease_seconds, self.unserved_seconds)).all():
                message = routing.not_served_message(model, self.unserved_seconds)
                # Failed only if still unserved: a replica with the model may have started meanwhile.
                still = jobs.c.model.not_in(routing.live_models(self.clock(), self.lease_seconds))
                failed += self._fail(conn, job_id, routing.NOT_SERVED, message, still)
        return failed

    def sweep(self) -> int:
        """Delete jobs past their retention, with their documents; returns how many."""
        return delete_expired(self.database, self.clock())

    def by_key(self, owner: str, key: str | None, request_hash: str | None) -> JobRecord | None:
        """The live job this owner made with this idempotency key; IdempotencyConflict for another request."""
        with self.database.connect() as conn:
            row = conn.execute(select_jobs().where(jobs.c.owner == owner, jobs.c.idempotency_key == key)).first()
        if row is None or expired(row, self.clock()):
            return None
        if row.request_hash != request_hash:
            raise IdempotencyConflict
        return job_record(row, self.unserved_seconds)
