"""kill -9 of a real server in the middle of a 1,000-document job, then a restart.

The job must resume by itself, documents finished before the kill must not run
again, and in the end every document has exactly one result, equal to what the
summarizer gives in-process. Runs on SQLite, and on PostgreSQL when
DOCSUM_TEST_POSTGRES_URL names one.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select

from models.extractive import ExtractiveSummarizer
from models.runner import Document, summarize_documents
from models.types import SummaryOptions
from service.features.jobs.batchfile import format_line
from service.features.jobs.tables import documents, metadata

# Starts server processes and kills them.
pytestmark = pytest.mark.slow

POSTGRES_URL = os.environ.get("DOCSUM_TEST_POSTGRES_URL")
DOCS = 1000
WORDS = (
    "council river bridge budget school mayor vote plan road year city people money report week court "
    "police water power market price study team game season doctor patient hospital storm flood"
).split()


def synthetic_documents(n: int) -> list[dict[str, str]]:
    rng = random.Random(7)
    docs = []
    for i in range(n):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18))).capitalize() + "."
            for _ in range(rng.randint(25, 45))
        ]
        docs.append({"id": f"doc-{i:04d}", "text": " ".join(sentences)})
    return docs


@pytest.fixture(params=["sqlite", "postgresql"])
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {"DOCSUM_DATA_DIR": str(tmp_path / "data")}
        return
    if not POSTGRES_URL:
        pytest.skip("DOCSUM_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    engine.dispose()
    yield {"DOCSUM_DATABASE_URL": POSTGRES_URL}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``docsum serve`` as its own process, the way an operator runs it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, **env, "DOCSUM_PORT": str(self.port), "DOCSUM_JOB_LEASE_SECONDS": "2"}
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        docsum = Path(sys.executable).with_name("docsum")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen([str(docsum), "serve"], env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not become ready: " + self.log.read_text())

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def job(server: Server, job_id: str) -> dict[str, Any]:
    response = httpx.get(f"{server.url}/v1/jobs/{job_id}", timeout=10)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def results(server: Server, job_id: str) -> list[str]:
    response = httpx.get(f"{server.url}/v1/jobs/{job_id}/results", timeout=60)
    assert response.status_code == 200
    return response.text.splitlines()


def attempts_by_id(env: dict[str, str], job_id: str) -> dict[str, int]:
    url = env.get("DOCSUM_DATABASE_URL") or f"sqlite:///{env['DOCSUM_DATA_DIR']}/docsum.db"
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            select(documents.c.doc_id, documents.c.attempts, documents.c.state).where(documents.c.job_id == job_id)
        ).all()
    engine.dispose()
    assert all(state == "done" for _, _, state in rows)
    return {doc_id: attempts for doc_id, attempts, _ in rows}


def test_a_job_survives_kill_9_with_every_result_exactly_once(store_env: dict[str, str], tmp_path: Path) -> None:
    docs = synthetic_documents(DOCS)
    server = Server(store_env, tmp_path / "server.log")
    server.start()
    try:
        submitted = httpx.post(f"{server.url}/v1/jobs", json={"documents": docs}, timeout=60)
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]
        while (progress := job(server, job_id)["progress"])["done"] < 150:
            time.sleep(0.02)
        finished_before_kill = results(server, job_id)
        server.kill()
    finally:
        server.stop()
    assert 150 <= len(finished_before_kill) < DOCS, progress

    restarted = Server(store_env, tmp_path / "server.log")
    restarted.start()
    try:
        deadline = time.monotonic() + 180
        while (state := job(restarted, job_id))["status"] != "succeeded":
            assert state["status"] == "running", state
            assert time.monotonic() < deadline, state
            time.sleep(0.1)
        assert state["progress"] == {"total": DOCS, "done": DOCS, "failed": 0}
        lines = results(restarted, job_id)
    finally:
        restarted.stop()

    # Every document once, in input order, each equal to the summarizer's own output.
    assert [json.loads(line)["id"] for line in lines] == [d["id"] for d in docs]
    summarizer = ExtractiveSummarizer()
    expected = [
        format_line(result, "extractive", SummaryOptions()).rstrip("\n")
        for result in summarize_documents(summarizer, [Document(d["id"], d["text"]) for d in docs], SummaryOptions())
    ]
    assert lines == expected
    # What was finished before the kill was not run again; only the claims in flight were.
    attempts = attempts_by_id(store_env, job_id)
    before = {json.loads(line)["id"] for line in finished_before_kill}
    assert all(attempts[doc_id] == 1 for doc_id in before)
    redone = [doc_id for doc_id, n in attempts.items() if n > 1]
    assert len(redone) <= 4 * 16  # at most the claims in flight at the kill (slots x batch size)
    assert set(redone).isdisjoint(before)
