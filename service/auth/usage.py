"""Per-key counters in fixed windows, kept in the job store's database so replicas share them.

One row per (owner, metric, window start) holds what the owner used in that window. Taking
is all or nothing over several counters at once, in one transaction: each counter is raised
by one conditional ``UPDATE ... WHERE used + amount <= quota`` (PostgreSQL re-checks the
condition on a row another replica just updated; SQLite writes one transaction at a time),
so two replicas can never both take the last unit. A missing row is inserted; two replicas
inserting the same row at once make one of them fail and try again.

The ``limits`` library was considered: it has memory, Redis, Memcached, MongoDB and etcd
storage but nothing SQL, and docsum's replicas share only the job store's database.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    MetaData,
    String,
    Table,
    and_,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine as Database
from sqlalchemy.exc import IntegrityError

usage_metadata = MetaData()

usage = Table(
    "docsum_usage",
    usage_metadata,
    Column("owner", String(64), primary_key=True),
    Column("metric", String(32), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("window_end", BigInteger, nullable=False, index=True),
    Column("used", BigInteger, nullable=False),
)

_ATTEMPTS = 5


class _Refused(Exception):
    """A counter had no room: the transaction is rolled back."""


@dataclass(frozen=True, slots=True)
class Take:
    """Take ``amount`` of ``metric`` in the current window of ``window`` seconds, whose quota is ``quota``."""

    metric: str
    window: int
    quota: int
    amount: int


@dataclass(frozen=True, slots=True)
class Count:
    """What a counter holds after a take: ``used`` of ``quota``, and the window ends in ``reset`` seconds."""

    metric: str
    quota: int
    used: int
    reset: float

    @property
    def remaining(self) -> int:
        return max(0, self.quota - self.used)


class UsageCounters:
    def __init__(self, database: Database) -> None:
        self.database = database
        usage_metadata.create_all(database)

    def take(self, owner: str, takes: Sequence[Take], now: float) -> tuple[bool, list[Count]]:
        """Take all or nothing; ``(granted, counts)``: the counts after the take, or as they stand if refused."""
        for attempt in range(_ATTEMPTS):
            try:
                return self._take_once(owner, takes, now)
            except IntegrityError:  # another replica inserted the same row first: its row is there now
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _take_once(self, owner: str, takes: Sequence[Take], now: float) -> tuple[bool, list[Count]]:
        counts: list[Count] = []
        try:
            with self.database.begin() as conn:
                for take in takes:
                    start = math.floor(now / take.window) * take.window
                    ok, used = _take_one(conn, owner, take, start)
                    if not ok:
                        raise _Refused  # rolls back what the other counters took
                    counts.append(Count(take.metric, take.quota, used, start + take.window - now))
        except _Refused:
            # The counts as they stand, none of this request's takes in them.
            return False, [self._standing(owner, take, now) for take in takes]
        return True, counts

    def _standing(self, owner: str, take: Take, now: float) -> Count:
        start = math.floor(now / take.window) * take.window
        with self.database.connect() as conn:
            used = conn.execute(select(usage.c.used).where(_key(owner, take.metric, start))).scalar() or 0
        return Count(take.metric, take.quota, int(used), start + take.window - now)

    def give_back(self, owner: str, metric: str, window: int, amount: int, now: float) -> None:
        """Return ``amount`` taken in the current window (a take that turned out not to be needed)."""
        start = math.floor(now / window) * window
        with self.database.begin() as conn:
            conn.execute(update(usage).where(_key(owner, metric, start)).values(used=usage.c.used - amount))

    def purge(self, now: float) -> int:
        """Forget windows that have ended; returns how many rows went."""
        with self.database.begin() as conn:
            return int(conn.execute(delete(usage).where(usage.c.window_end < now)).rowcount)


def _key(owner: str, metric: str, start: int) -> ColumnElement[bool]:
    return and_(usage.c.owner == owner, usage.c.metric == metric, usage.c.window_start == start)


def _take_one(conn: Connection, owner: str, take: Take, start: int) -> tuple[bool, int]:
    """(granted, used after): raise the window's counter if the take fits in the quota."""
    key = _key(owner, take.metric, start)
    raised = conn.execute(
        update(usage).where(key, usage.c.used + take.amount <= take.quota).values(used=usage.c.used + take.amount)
    ).rowcount
    used = conn.execute(select(usage.c.used).where(key)).scalar()
    if raised:
        return True, int(used or 0)
    if used is not None:
        return False, int(used)
    if take.amount > take.quota:
        return False, 0
    row = {"owner": owner, "metric": take.metric, "window_start": start, "window_end": start + take.window}
    conn.execute(insert(usage).values(**row, used=take.amount))
    return True, take.amount
