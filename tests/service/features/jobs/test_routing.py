"""Jobs go only to a replica that has their model; a job that no running replica can run says so, then fails.

Store tests run on SQLite, and on PostgreSQL when DOCSUM_TEST_POSTGRES_URL names one
(CI starts one). Two stores on one database stand for two replicas, and a clock the
test moves stands for time passing. The last test runs two real apps on one data
directory: the server without the model leaves the job to the one with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select

from models.catalog import BUILTIN_MODELS, ModelRegistry, default_loader, probe_source
from models.loading import LoadSettings
from service.app import create_app
from service.features.jobs.options import JobOptions
from service.features.jobs.records import Claim, Outcome
from service.features.jobs.store import JobStore
from service.features.jobs.tables import documents
from service.settings import Settings
from tests.fakes import FakeSummarizer

WITH_TINY = ["extractive", "tiny"]
WITHOUT_TINY = ["extractive"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


ReplicaFactory = Callable[..., JobStore]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def replica(url: str, clock: Clock) -> Iterator[ReplicaFactory]:
    """``replica(lease=..., unserved=...)``: one more replica on the test's database and clock."""
    made: list[JobStore] = []

    def make(lease: float = 3.0, unserved: float = 30.0) -> JobStore:
        made.append(JobStore(url, lease_seconds=lease, unserved_seconds=unserved, clock=clock))
        return made[-1]

    yield make
    for store in made:
        store.close()


def docs(n: int) -> list[tuple[str, str]]:
    return [(f"doc-{i}", f"text of document {i}") for i in range(n)]


def finish(store: JobStore, claim: Claim) -> int:
    return store.complete(claim, [Outcome(d.seq, f'{{"id": "{d.id}"}}', failed=False) for d in claim.documents])


def watch_for(seconds: int, clock: Clock, *replicas: tuple[JobStore, list[str]]) -> int:
    """Each replica looks once a second (as its worker does, lease / 3) for ``seconds``; jobs they failed."""
    failed = 0
    for _ in range(seconds):
        clock.now += 1
        failed += sum(store.watch(models) for store, models in replicas)
    return failed


def test_a_replica_without_the_model_never_claims_its_jobs(replica: ReplicaFactory, url: str) -> None:
    with_tiny, without = replica(), replica()
    tiny_jobs = [with_tiny.create("alice", "tiny", JobOptions(), docs(300))[0] for _ in range(3)]
    other, _ = with_tiny.create("alice", "extractive", JobOptions(), docs(5))
    # The replica without tiny passes over the older tiny jobs to the one job it can run.
    claim = without.claim(16, WITHOUT_TINY)
    assert claim is not None and claim.job_id == other.id
    finish(without, claim)
    while (claim := with_tiny.claim(16, WITH_TINY)) is not None:
        assert without.claim(16, WITHOUT_TINY) is None  # never a tiny document, whatever is left
        assert claim.model == "tiny"
        finish(with_tiny, claim)
    for job in tiny_jobs:
        record = with_tiny.get("alice", job.id)
        assert record is not None
        assert (record.status, record.done, record.failed, record.error_code) == ("succeeded", 300, 0, None)
    engine = create_engine(url)
    with engine.connect() as conn:
        attempts = set(conn.execute(select(documents.c.attempts)).scalars())
    engine.dispose()
    assert attempts == {1}  # every document claimed once, by a replica that could run it


def test_a_job_no_replica_serves_waits_in_view_then_fails(replica: ReplicaFactory, clock: Clock) -> None:
    without = replica(lease=3.0, unserved=30.0)
    job, _ = without.create("alice", "tiny", JobOptions(), docs(3))
    assert job.waiting_since is None  # nobody has looked yet
    assert without.watch(WITHOUT_TINY) == 0
    waiting = without.get("alice", job.id)
    assert waiting is not None and waiting.status == "queued"
    assert (waiting.waiting_since, waiting.fails_at) == (clock.now, clock.now + 30)
    assert [j.waiting_since for j in without.list("alice", limit=5)] == [clock.now]
    assert without.claim(10, WITHOUT_TINY) is None
    assert watch_for(29, clock, (without, WITHOUT_TINY)) == 0
    still = without.get("alice", job.id)
    assert still is not None and still.status == "queued" and still.waiting_since == waiting.waiting_since
    assert watch_for(1, clock, (without, WITHOUT_TINY)) == 1
    failed = without.get("alice", job.id)
    assert failed is not None
    assert (failed.status, failed.error_code, failed.waiting_since) == ("failed", "model_not_served", None)
    assert failed.error_message is not None and "'tiny'" in failed.error_message
    assert replica().claim(10, WITH_TINY) is None  # a failed job is not run later


def test_a_replica_with_the_model_ends_the_wait_and_its_stop_starts_one(replica: ReplicaFactory, clock: Clock) -> None:
    with_tiny, without = replica(), replica()
    job, _ = without.create("alice", "tiny", JobOptions(), docs(4))
    without.watch(WITHOUT_TINY)
    assert without.get("alice", job.id).waiting_since is not None  # type: ignore[union-attr]
    # A replica with tiny starts: the wait ends, and nobody fails the job however long it takes.
    with_tiny.watch(WITH_TINY)
    assert with_tiny.get("alice", job.id).waiting_since is None  # type: ignore[union-attr]
    assert watch_for(60, clock, (with_tiny, WITH_TINY), (without, WITHOUT_TINY)) == 0
    claim = with_tiny.claim(2, WITH_TINY)
    assert claim is not None and finish(with_tiny, claim) == 2
    # It stops mid-job: once its stamp is a lease old the job waits again, and fails after the wait.
    assert watch_for(3, clock, (without, WITHOUT_TINY)) == 0
    assert without.get("alice", job.id).waiting_since is None  # type: ignore[union-attr]
    assert watch_for(1, clock, (without, WITHOUT_TINY)) == 0
    running = without.get("alice", job.id)
    assert running is not None and (running.status, running.done, running.waiting_since) == ("running", 2, clock.now)
    assert watch_for(30, clock, (without, WITHOUT_TINY)) == 1
    failed = without.get("alice", job.id)
    assert failed is not None and (failed.status, failed.done, failed.error_code) == ("failed", 2, "model_not_served")


def test_time_with_no_replica_running_does_not_count(replica: ReplicaFactory, clock: Clock) -> None:
    without = replica(lease=3.0, unserved=30.0)
    job, _ = without.create("alice", "tiny", JobOptions(), docs(1))
    without.watch(WITHOUT_TINY)
    clock.now += 3600  # the whole service was down for an hour
    assert without.watch(WITHOUT_TINY) == 0  # the replica that starts first does not fail it at once
    record = without.get("alice", job.id)
    assert record is not None and (record.status, record.waiting_since) == ("queued", clock.now)


# -- two real apps on one data directory ---------------------------------------------------


def registry(*names: str) -> ModelRegistry:
    made = ModelRegistry(BUILTIN_MODELS, default_loader(LoadSettings()), probe_source)
    for name in names:
        made.add(FakeSummarizer(name))
    return made


def get_job(client: TestClient, job_id: str, until: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.02)


@pytest.mark.slow  # waits out a job lease
def test_a_server_without_the_model_leaves_the_job_to_one_with_it(tmp_path: Path) -> None:
    settings = Settings(default_model="fake", data_dir=tmp_path / "data", job_lease_seconds=1.5)
    with TestClient(create_app(settings, registry("fake")), raise_server_exceptions=False) as without:
        # A tiny job that a server with tiny accepted before it stopped.
        store = JobStore(settings.store_url())
        job, _ = store.create("anonymous", "tiny", JobOptions(), docs(40))
        time.sleep(1.2)  # past the worker's poll: before, it claimed the job and failed it, model_not_found
        waiting = get_job(without, job.id, lambda j: j["waiting"] is not None)
        assert (waiting["status"], waiting["progress"]["done"], waiting["error"]) == ("queued", 0, None)
        assert waiting["waiting"]["code"] == "model_not_served"
        assert "'tiny'" in waiting["waiting"]["message"]
        assert waiting["waiting"]["since"] < waiting["waiting"]["fails_at"]

        with TestClient(create_app(settings, registry("fake", "tiny")), raise_server_exceptions=False) as with_tiny:
            done = get_job(with_tiny, job.id, lambda j: j["status"] != "queued" and j["status"] != "running")
        assert (done["status"], done["progress"], done["error"]) == (
            "succeeded",
            {"total": 40, "done": 40, "failed": 0},
            None,
        )
        assert get_job(without, job.id, lambda j: True)["waiting"] is None

        # Another tiny job, now that no server has tiny: a replica set to wait half a second fails it.
        stranded, _ = store.create("anonymous", "tiny", JobOptions(), docs(2))
        get_job(without, stranded.id, lambda j: j["waiting"] is not None)
        impatient = JobStore(settings.store_url(), lease_seconds=1.5, unserved_seconds=0.5)
        time.sleep(0.6)
        assert impatient.watch(["fake"]) == 1
        failed = get_job(without, stranded.id, lambda j: True)
        assert (failed["status"], failed["waiting"]) == ("failed", None)
        assert failed["error"]["code"] == "model_not_served" and "'tiny'" in failed["error"]["message"]
        impatient.close()
        store.close()
