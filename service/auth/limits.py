"""Per-key limits and quotas: what one key may do per second, minute and day, and at once.

- requests per second (1 s windows): every request but /health and /ready; 429 ``rate_limited``.
- input tokens per minute (60 s): summarize, batch and ground, estimated at admission
  (``estimate_tokens``); 429 ``rate_limited``.
- concurrent streams (at once): ``stream: true`` summaries open on this replica; 429 ``rate_limited``.
- documents per day (UTC days): documents summarized, or submitted in jobs; 429 ``quota_exceeded``.
- stored job bytes per day (UTC days): job documents stored, ids and texts in UTF-8; 429 ``quota_exceeded``.

Windows are fixed (a second, a minute, a UTC day) and counted in the job store's database
(``usage``), so replicas sharing it share every limit but one: concurrent streams are counted
per replica. A stream lives and dies with its replica's connection; a counter in the database
would keep the slots of a replica that was killed until something noticed, while a count in
memory dies with the streams it counts.

Tokens are estimated, not counted by a model's tokenizer: the quota is taken before the model
is loaded or runs, the same way for every model, at about four characters per token (what
English text gives with the BPE tokenizers docsum serves).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from service.auth.usage import Count, Take, UsageCounters
from service.errors import LimitExceeded
from service.settings import Settings

CHARS_PER_TOKEN = 4
DAY = 86400
_PURGE_SECONDS = 60.0


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


@dataclass(frozen=True, slots=True)
class Policy:
    """One limit: its name in the ``RateLimit`` fields, window, quota unit, and error code."""

    name: str
    window: int  # seconds; 0 for a limit on what runs at once
    unit: str
    code: str
    what: str


REQUESTS = Policy("requests", 1, "requests", "rate_limited", "requests per second")
TOKENS = Policy("input-tokens", 60, "tokens", "rate_limited", "input tokens per minute")
STREAMS = Policy("streams", 0, "concurrent-requests", "rate_limited", "concurrent streams")
DOCUMENTS = Policy("documents", DAY, "documents", "quota_exceeded", "documents per day")
STORED = Policy("stored-bytes", DAY, "content-bytes", "quota_exceeded", "stored job bytes per day")
POLICIES = {policy.name: policy for policy in (REQUESTS, TOKENS, STREAMS, DOCUMENTS, STORED)}


@dataclass(frozen=True, slots=True)
class Limits:
    """Each key's quotas; 0 means no limit."""

    requests_per_second: int = 0
    input_tokens_per_minute: int = 0
    concurrent_streams: int = 0
    documents_per_day: int = 0
    stored_bytes_per_day: int = 0

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            requests_per_second=settings.limit_requests_per_second,
            input_tokens_per_minute=settings.limit_input_tokens_per_minute,
            concurrent_streams=settings.limit_concurrent_streams,
            documents_per_day=settings.limit_documents_per_day,
            stored_bytes_per_day=settings.limit_stored_bytes_per_day,
        )

    def but(self, changes: Mapping[str, int]) -> Limits:
        """These limits with some replaced (a key's own, from the key file)."""
        return replace(self, **changes)


class Limiter:
    """Takes from each key's quotas; refuses with ``LimitExceeded`` (429, ``Retry-After``) what does not fit.

    ``clock``: Unix seconds now (tests pass their own, to count windows exactly).
    """

    def __init__(
        self,
        counters: UsageCounters,
        limits: Limits,
        clock: Callable[[], float] = time.time,
        *,
        own: Mapping[str, Limits] | None = None,
    ) -> None:
        """``limits``: every owner's; ``own``: the owners (``key:NAME``) whose key file line set their own."""
        self.counters = counters
        self.limits = limits
        self.own = dict(own or {})
        self.clock = clock
        self._streams: dict[str, int] = {}
        self._purged = -math.inf

    def of(self, owner: str) -> Limits:
        """This owner's limits."""
        return self.own.get(owner, self.limits)

    async def request(self, owner: str) -> list[Count]:
        return await self._take(owner, [(REQUESTS, self.of(owner).requests_per_second, 1)])

    async def documents(self, owner: str, texts: Sequence[str]) -> list[Count]:
        """Documents to summarize now: their input tokens and the day's documents."""
        tokens = sum(estimate_tokens(text) for text in texts)
        return await self._take(
            owner,
            [
                (TOKENS, self.of(owner).input_tokens_per_minute, tokens),
                (DOCUMENTS, self.of(owner).documents_per_day, len(texts)),
            ],
        )

    async def tokens(self, owner: str, texts: Sequence[str]) -> list[Count]:
        tokens = sum(estimate_tokens(text) for text in texts)
        return await self._take(owner, [(TOKENS, self.of(owner).input_tokens_per_minute, tokens)])

    async def job(self, owner: str, documents: int, stored_bytes: int) -> list[Count]:
        """A job to store: its documents and its bytes count against the day's quotas."""
        return await self._take(
            owner,
            [
                (DOCUMENTS, self.of(owner).documents_per_day, documents),
                (STORED, self.of(owner).stored_bytes_per_day, stored_bytes),
            ],
        )

    async def give_back_job(self, owner: str, documents: int, stored_bytes: int) -> None:
        """An idempotent replay stored nothing: return what ``job`` took."""
        now = self.clock()
        for policy, quota, amount in (
            (DOCUMENTS, self.of(owner).documents_per_day, documents),
            (STORED, self.of(owner).stored_bytes_per_day, stored_bytes),
        ):
            if quota:
                await asyncio.to_thread(self.counters.give_back, owner, policy.name, policy.window, amount, now)

    def open_stream(self, owner: str) -> Count | None:
        """Hold one of the key's stream slots on this replica (``close_stream`` gives it back); None: no limit."""
        quota = self.of(owner).concurrent_streams
        if not quota:
            return None
        held = self._streams.get(owner, 0)
        if held >= quota:
            count = Count(STREAMS.name, quota, held, 0.0)
            raise LimitExceeded(_message(STREAMS, quota), code=STREAMS.code, retry_after=1, counts=[count])
        self._streams[owner] = held + 1
        return Count(STREAMS.name, quota, held + 1, 0.0)

    def close_stream(self, owner: str) -> None:
        held = self._streams.get(owner, 0) - 1
        if held > 0:
            self._streams[owner] = held
        else:
            self._streams.pop(owner, None)

    async def _take(self, owner: str, wanted: Sequence[tuple[Policy, int, int]]) -> list[Count]:
        takes = [Take(policy.name, policy.window, quota, amount) for policy, quota, amount in wanted if quota]
        if not takes:
            return []
        now = self.clock()
        granted, counts = await asyncio.to_thread(self._take_now, owner, takes, now)
        if granted:
            return counts
        full, take = next((c, t) for c, t in zip(counts, takes, strict=True) if c.used + t.amount > c.quota)
        policy = POLICIES[full.metric]
        message = _message(policy, full.quota)
        if take.amount > take.quota:
            message = f"this request alone needs {take.amount} of this key's {full.quota} {policy.what}"
        raise LimitExceeded(message, code=policy.code, retry_after=math.ceil(full.reset), counts=counts)

    def _take_now(self, owner: str, takes: Sequence[Take], now: float) -> tuple[bool, list[Count]]:
        if now - self._purged > _PURGE_SECONDS:
            self._purged = now
            self.counters.purge(now)
        return self.counters.take(owner, takes, now)


def _message(policy: Policy, quota: int) -> str:
    return f"this key's limit of {quota} {policy.what} is reached"
