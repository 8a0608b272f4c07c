"""Calls a job's webhook once the job ends (succeeded, failed or cancelled), from every replica.

Apart from the job worker's slots, a task looks for ended jobs whose webhook is pending, claims
each by moving its ``next_at`` forward (a conditional UPDATE: one replica wins), and sends it in a
task of its own, so a slow receiver holds up neither job work nor other webhooks. A call is a
signed POST (``service.client.webhooks``: HMAC-SHA256 of timestamp and body); anything but a 2xx
is tried again after a doubling wait, up to ``attempts`` times, then given up (``failed``). The
state lives in the store, so retries survive a restart and a dead replica's sends are taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import select, update

from service import __version__
from service.client.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from service.errors import InvalidRequest
from service.features.jobs.tables import Database, jobs, webhooks
from service.features.jobs.webhook_policy import WebhookPolicy

logger = logging.getLogger(__name__)

FINAL = ("succeeded", "failed", "cancelled")
_MAX_BACKOFF = 3600.0


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    secret: str
    attempts: int = 5
    backoff_seconds: float = 2.0
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0


@dataclass(frozen=True, slots=True)
class Delivery:
    job_id: str
    url: str
    attempts: int
    payload: dict[str, Any]


class WebhookSender:
    def __init__(
        self,
        database: Database,
        policy: WebhookPolicy,
        settings: WebhookSettings,
        *,
        clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.database = database
        self.policy = policy
        self.settings = settings
        self.clock = clock
        self._http = httpx.AsyncClient(
            timeout=settings.timeout_seconds, follow_redirects=False, transport=transport, trust_env=False
        )
        self._loop: asyncio.Task[None] | None = None
        self._sending: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._loop = asyncio.create_task(self._run(), name="docsum-webhooks")

    async def stop(self) -> None:
        tasks = [*self._sending, *([self._loop] if self._loop else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._http.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.send_due()
            except Exception:
                logger.exception("looking for webhooks to send failed")
            await asyncio.sleep(self.settings.poll_seconds)

    async def send_due(self) -> list[asyncio.Task[None]]:
        """Claim the webhooks due now and start sending each; the tasks sending them."""
        started = []
        for delivery in await asyncio.to_thread(self._claim_due):
            task = asyncio.create_task(self._send(delivery))
            self._sending.add(task)
            task.add_done_callback(self._sending.discard)
            started.append(task)
        return started

    async def _send(self, delivery: Delivery) -> None:
        body = json.dumps(delivery.payload, separators=(",", ":")).encode()
        stamp = int(self.clock())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": f"docsum/{__version__}",
            TIMESTAMP_HEADER: str(stamp),
            SIGNATURE_HEADER: sign(self.settings.secret, stamp, body),
            "X-Docsum-Event": "job.finished",
        }
        error = None
        try:
            await asyncio.to_thread(self.policy.check, delivery.url)  # DNS may have changed since creation
            response = await self._http.post(delivery.url, content=body, headers=headers)
            if not response.is_success:
                error = f"HTTP {response.status_code}"
        except InvalidRequest as exc:
            error = exc.message
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        await asyncio.to_thread(self._settle, delivery, error)

    def _claim_due(self, limit: int = 16) -> list[Delivery]:
        now = self.clock()
        lease = now + self.settings.timeout_seconds * 2 + 5
        with self.database.connect() as conn:
            rows = conn.execute(
                select(webhooks.c.job_id, webhooks.c.url, webhooks.c.attempts, webhooks.c.next_at, *_job_columns())
                .join(jobs, jobs.c.id == webhooks.c.job_id)
                .where(webhooks.c.state == "pending", webhooks.c.next_at <= now, jobs.c.status.in_(FINAL))
                .order_by(webhooks.c.next_at)
                .limit(limit)
            ).all()
        claimed = []
        for row in rows:
            with self.database.begin() as conn:
                won = conn.execute(
                    update(webhooks)
                    .where(
                        webhooks.c.job_id == row.job_id,
                        webhooks.c.state == "pending",
                        webhooks.c.next_at == row.next_at,
                    )
                    .values(next_at=lease)
                ).rowcount
            if won:
                claimed.append(Delivery(row.job_id, row.url, row.attempts, _payload(row)))
        return claimed

    def _settle(self, delivery: Delivery, error: str | None) -> None:
        attempts = delivery.attempts + 1
        if error is None:
            values: dict[str, Any] = {"state": "delivered", "attempts": attempts, "last_error": None}
        elif attempts >= self.settings.attempts:
            values = {"state": "failed", "attempts": attempts, "last_error": error[:500]}
            logger.warning("webhook of job %s given up after %d attempts: %s", delivery.job_id, attempts, error)
        else:
            wait = min(_MAX_BACKOFF, self.settings.backoff_seconds * 2 ** (attempts - 1))
            values = {"attempts": attempts, "next_at": self.clock() + wait, "last_error": error[:500]}
        with self.database.begin() as conn:
            conn.execute(update(webhooks).where(webhooks.c.job_id == delivery.job_id).values(**values))


def _job_columns() -> tuple[Any, ...]:
    return (
        jobs.c.status,
        jobs.c.model,
        jobs.c.total,
        jobs.c.done,
        jobs.c.failed,
        jobs.c.finished_at,
        jobs.c.error_code,
        jobs.c.error_message,
    )


def _payload(row: Any) -> dict[str, Any]:
    """What the receiver gets: the job's id, how it ended and its counts (never its documents)."""
    error = {"code": row.error_code, "message": row.error_message or ""} if row.error_code else None
    return {
        "event": "job.finished",
        "job": {
            "id": row.job_id,
            "status": row.status,
            "model": row.model,
            "progress": {"total": row.total, "done": row.done, "failed": row.failed},
            "finished_at": row.finished_at,
            "error": error,
            "results_url": f"/v1/jobs/{row.job_id}/results",
        },
    }
