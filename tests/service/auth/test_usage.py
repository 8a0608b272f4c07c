"""service.auth.usage on SQLite and PostgreSQL: all-or-nothing takes, exact under concurrent replicas."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine

from service.auth.usage import Take, UsageCounters, usage_metadata
from service.features.jobs.tables import connect

NOW = 1_800_000_000.25


@pytest.fixture
def counters(url: str) -> Iterator[UsageCounters]:
    engine = create_engine(url)
    usage_metadata.drop_all(engine)
    engine.dispose()
    database = connect(url)
    yield UsageCounters(database)
    database.dispose()


def test_a_take_is_all_or_nothing(counters: UsageCounters) -> None:
    takes = [Take("tokens", 60, 100, 70), Take("documents", 86400, 2, 1)]
    granted, counts = counters.take("a", takes, NOW)
    assert granted
    assert [(c.used, c.remaining) for c in counts] == [(70, 30), (1, 1)]
    assert counts[0].reset == pytest.approx(60 - NOW % 60)
    # The tokens do not fit: the documents are not taken either.
    granted, counts = counters.take("a", [Take("documents", 86400, 2, 1), Take("tokens", 60, 100, 31)], NOW)
    assert not granted
    assert [c.used for c in counts] == [1, 70]
    granted, counts = counters.take("a", [Take("documents", 86400, 2, 1), Take("tokens", 60, 100, 30)], NOW)
    assert granted
    assert [c.used for c in counts] == [2, 100]


def test_more_than_the_quota_at_once_is_refused_and_owners_count_apart(counters: UsageCounters) -> None:
    assert not counters.take("a", [Take("bytes", 86400, 10, 11)], NOW)[0]
    assert counters.take("a", [Take("bytes", 86400, 10, 10)], NOW)[0]
    assert counters.take("b", [Take("bytes", 86400, 10, 10)], NOW)[0]


def test_windows_end_and_are_purged(counters: UsageCounters) -> None:
    assert counters.take("a", [Take("requests", 1, 1, 1)], NOW)[0]
    assert not counters.take("a", [Take("requests", 1, 1, 1)], NOW + 0.5)[0]
    assert counters.take("a", [Take("requests", 1, 1, 1)], NOW + 0.75)[0]  # the next second
    assert counters.purge(NOW + 1.5) == 1


def test_given_back_is_taken_again(counters: UsageCounters) -> None:
    assert counters.take("a", [Take("documents", 86400, 5, 5)], NOW)[0]
    counters.give_back("a", "documents", 86400, 2, NOW)
    assert counters.take("a", [Take("documents", 86400, 5, 2)], NOW)[0]
    assert not counters.take("a", [Take("documents", 86400, 5, 1)], NOW)[0]


def test_replicas_taking_at_once_never_exceed_the_quota(counters: UsageCounters, url: str) -> None:
    """Four replicas (each its own connection pool) race for 50 units, 30 tries each: exactly 50 are granted."""
    replicas = [UsageCounters(connect(url)) for _ in range(4)]
    granted: list[bool] = []
    lock = threading.Lock()

    def run(replica: UsageCounters) -> None:
        for _ in range(30):
            ok, _counts = replica.take("a", [Take("documents", 86400, 50, 1)], NOW)
            with lock:
                granted.append(ok)

    threads = [threading.Thread(target=run, args=(replica,)) for replica in replicas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for replica in replicas:
        replica.database.dispose()
    assert granted.count(True) == 50
    assert len(granted) == 120
