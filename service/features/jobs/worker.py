"""Runs stored jobs in every replica: claim documents, summarize them through the engine, store results.

A few claims are in flight at once (``slots``), so the engine's queue always holds
the next documents while results of the previous ones are written, and its
length-sorted batching has enough to choose from. Job work enters the engine at
batch priority: interactive requests overtake it. While a claim runs, its lease
is renewed; if the lease is lost or the job was cancelled, the work is dropped.
A killed replica's claims lapse after the lease and another replica (or this
one, restarted) picks them up; documents whose results were stored are never run
again.

A replica claims only work of jobs whose model is in its catalog, and a few times
per lease tells the store which models it serves (``JobStore.watch``): jobs whose
model no running replica serves wait, and fail with ``model_not_served`` after
the store's ``unserved_seconds``.

Documents a remote model's server did not answer for (``upstream_unavailable``) are not
results: they are given back and claimed again after ``UPSTREAM_RETRY_SECONDS``.

A claim carries its job's options as the store read them (``options.JobOptions``, from
whichever version wrote them); a job whose options cannot be read never reaches a worker:
the store fails it once, with ``invalid_job_options``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

from models.errors import ModelError
from models.runner import Document
from service.engine import Engine, Priority
from service.errors import Overloaded, model_error_status
from service.features.jobs.batchfile import format_line
from service.features.jobs.records import Claim, Outcome
from service.features.jobs.store import JobStore
from service.features.jobs.webhooks import WebhookSender

logger = logging.getLogger(__name__)

# An unexpected failure (the database is away, a bug) backs off this long before trying again.
_RETRY_SECONDS = 5.0
# Documents a remote model's server did not answer for wait this long, then are claimed again.
UPSTREAM_RETRY_SECONDS = 5.0
_AWAY = "upstream_unavailable"
_SWEEP_SECONDS = 60.0


class JobWorker:
    def __init__(
        self,
        store: JobStore,
        engine: Engine,
        *,
        claim_size: int,
        slots: int = 4,
        poll_seconds: float = 1.0,
        webhooks: WebhookSender | None = None,
    ) -> None:
        self.store = store
        self.webhooks = webhooks  # sends ended jobs' webhooks, in tasks of its own
        self.engine = engine
        self.claim_size = claim_size
        self.slots = slots
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._running: dict[str, set[asyncio.Task[None]]] = defaultdict(set)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._slot(), name=f"docsum-jobs-{n}") for n in range(self.slots)]
        self._tasks.append(asyncio.create_task(self._sweep(), name="docsum-jobs-sweep"))
        self._tasks.append(asyncio.create_task(self._watch(), name="docsum-jobs-watch"))
        if self.webhooks is not None:
            self.webhooks.start()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self.webhooks is not None:
            await self.webhooks.stop()

    def notify(self) -> None:
        """New work was stored: look now instead of at the next poll."""
        self._wake.set()

    def cancel_local(self, job_id: str) -> None:
        """Drop this replica's queued work of a cancelled job (other replicas notice at their next renewal)."""
        for task in list(self._running.get(job_id, ())):
            task.cancel()

    async def _slot(self) -> None:
        while True:
            try:
                claim = await asyncio.to_thread(self.store.claim, self.claim_size, self.engine.registry.names)
            except Exception:
                logger.exception("claiming job work failed; retrying in %.0f s", _RETRY_SECONDS)
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            if claim is None:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                continue
            await self._run_claim(claim)

    async def _run_claim(self, claim: Claim) -> None:
        work = asyncio.create_task(self._summarize(claim))
        self._running[claim.job_id].add(work)
        renewal = asyncio.create_task(self._keep_lease(claim, work))
        try:
            await work
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # this slot itself is being stopped, not just the claim's work
        finally:
            renewal.cancel()
            self._running[claim.job_id].discard(work)
            if not self._running[claim.job_id]:
                del self._running[claim.job_id]

    async def _summarize(self, claim: Claim) -> None:
        attributes: dict[str, str | int] = {"docsum.job_id": claim.job_id, "docsum.documents": len(claim.documents)}
        try:
            options = claim.options.to_summary_options()
            docs = [Document(doc.id, doc.text) for doc in claim.documents]
            with self.engine.telemetry.span("docsum.job_claim", attributes):  # the trace of this slice of a job
                results = await self.engine.summarize_documents(claim.model, docs, options, priority=Priority.BATCH)
        except Overloaded as exc:
            await asyncio.to_thread(self.store.release, claim)
            await asyncio.sleep(exc.retry_after)
            return
        except ModelError as exc:
            if exc.code == _AWAY:  # the upstream is away, not the job wrong: its documents wait
                await self._later(claim, exc.message)
                return
            _, code = model_error_status(exc)
            logger.error("job %s failed: %s", claim.job_id, exc.message)
            await asyncio.to_thread(self.store.fail, claim.job_id, code, exc.message)
            return
        except asyncio.CancelledError:
            await asyncio.shield(asyncio.to_thread(self.store.release, claim))
            raise
        except Exception:
            logger.exception("job %s: a claim of %d documents failed", claim.job_id, len(claim.documents))
            await asyncio.to_thread(self.store.release, claim)
            await asyncio.sleep(_RETRY_SECONDS)
            return
        outcomes = [
            Outcome(doc.seq, format_line(result, claim.model, options).rstrip("\n"), result.error is not None)
            for doc, result in zip(claim.documents, results, strict=True)
            if result.error is None or result.error.code != _AWAY
        ]
        await asyncio.to_thread(self.store.complete, claim, outcomes)
        if len(outcomes) < len(claim.documents):
            await self._later(claim, f"{len(claim.documents) - len(outcomes)} documents found the upstream away")

    async def _later(self, claim: Claim, why: str) -> None:
        """Give the claim's unfinished documents back, to be claimed again once the upstream may be back."""
        logger.warning("job %s: %s; trying again in %.0f s", claim.job_id, why, UPSTREAM_RETRY_SECONDS)
        await asyncio.to_thread(self.store.release, claim)
        await asyncio.sleep(UPSTREAM_RETRY_SECONDS)

    async def _keep_lease(self, claim: Claim, work: asyncio.Task[None]) -> None:
        while True:
            await asyncio.sleep(self.store.lease_seconds / 3)
            try:
                held = await asyncio.to_thread(self.store.renew, claim)
            except Exception:
                logger.exception("renewing a lease of job %s failed", claim.job_id)
                continue
            if not held:
                work.cancel()  # cancelled job, or the lease went to another replica
                return

    async def _sweep(self) -> None:
        while True:
            try:
                removed = await asyncio.to_thread(self.store.sweep)
                if removed:
                    logger.info("removed %d expired jobs", removed)
            except Exception:
                logger.exception("removing expired jobs failed")
            await asyncio.sleep(_SWEEP_SECONDS)

    async def _watch(self) -> None:
        while True:
            try:
                failed = await asyncio.to_thread(self.store.watch, self.engine.registry.names)
                if failed:
                    logger.warning("%d jobs failed: no running replica served their model", failed)
            except Exception:
                logger.exception("recording which models this replica serves failed")
            await asyncio.sleep(self.store.lease_seconds / 3)
