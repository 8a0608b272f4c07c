"""Stored job options: every version written reads back the same, and what cannot run fails once.

Version 1 is what docsum wrote before the record had a version: the request's options,
defaults omitted, as raw JSON. Such rows must still run after an upgrade.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update

from models.catalog import ModelRegistry
from models.types import SummaryOptions
from service.app import create_app
from service.features.jobs.options import INVALID_OPTIONS, JobOptions, UnreadableOptions
from service.features.jobs.store import JobStore
from service.features.jobs.tables import documents, jobs
from service.settings import Settings

# Rows as docsum 0.1.0 wrote them (json.dumps(params, sort_keys=True)), and what they ask for.
VERSION_1 = [
    ("{}", SummaryOptions()),
    ('{"max_tokens": 40}', SummaryOptions(max_tokens=40)),
    (
        '{"format": "bullets", "length": "short", "query": "bridge", "truncation": "head"}',
        SummaryOptions(format="bullets", length="short", query="bridge", truncation="head"),
    ),
    (
        '{"grounding": false, "length_penalty": 1.5, "max_tokens": 30, "min_tokens": 2, '
        '"no_repeat_ngram_size": 3, "num_beams": 4}',
        SummaryOptions(
            grounding=False, length_penalty=1.5, max_tokens=30, min_tokens=2, no_repeat_ngram_size=3, num_beams=4
        ),
    ),
    ('{"length_penalty": 2, "sentences": 3}', SummaryOptions(length_penalty=2.0, sentences=3)),
]

UNREADABLE = [
    ('{"version": 4, "max_tokens": 40}', "version 4; this docsum reads versions 1 to 3"),
    ('{"version": "2"}', "version '2'"),
    ('{"version": true}', "version True"),
    ('{"version": 0}', "version 0"),
    ('{"max_tokens": "many"}', "max_tokens"),
    ('{"max_tokens": 0}', "max_tokens"),
    ('{"format": "haiku"}', "format"),
    ('{"colour": "red"}', "colour"),
    ('{"min_tokens": 9, "max_tokens": 3}', "min_tokens must not exceed max_tokens"),
    ('{"version": 2, "max_tokens": 40, "model": "fake"}', "model"),
    ("[1, 2]", "not a JSON object"),
    ("not json", "not JSON"),
]


@pytest.mark.parametrize(("stored", "options"), VERSION_1, ids=[stored for stored, _ in VERSION_1])
def test_version_1_options_read_as_they_were_written(stored: str, options: SummaryOptions) -> None:
    assert JobOptions.decode(stored).to_summary_options() == options


def test_the_current_version_is_written_whole_and_reads_back() -> None:
    options = SummaryOptions(max_tokens=40, format="bullets", query="bridge", grounding=False)
    stored = JobOptions.of(options).encode()
    written = json.loads(stored)
    assert written["version"] == 3
    assert set(written) == {"version", *SummaryOptions.__dataclass_fields__}
    assert JobOptions.decode(stored).to_summary_options() == options


# A row as docsum wrote it at version 2 (before language, temperature and seed): every option of the time.
VERSION_2 = (
    '{"format": "bullets", "grounding": null, "length": null, "length_penalty": null, "max_tokens": 40, '
    '"min_tokens": null, "no_repeat_ngram_size": null, "num_beams": null, "query": "bridge", "sentences": null, '
    '"truncation": "chunk", "version": 2}'
)


def test_version_2_options_read_as_they_were_written_greedy_in_the_documents_language() -> None:
    options = JobOptions.decode(VERSION_2).to_summary_options()
    assert options == SummaryOptions(format="bullets", max_tokens=40, query="bridge")
    assert (options.language, options.temperature, options.seed) == (None, None, None)


def test_sampling_options_are_stored_and_read_back() -> None:
    options = SummaryOptions(language="pt-BR", temperature=0.7, seed=42)
    assert JobOptions.decode(JobOptions.of(options).encode()).to_summary_options() == options


@pytest.mark.parametrize(("stored", "reason"), UNREADABLE, ids=[stored for stored, _ in UNREADABLE])
def test_options_that_cannot_run_say_why(stored: str, reason: str) -> None:
    with pytest.raises(UnreadableOptions, match="stored options") as raised:
        JobOptions.decode(stored)
    assert reason in str(raised.value)


@pytest.fixture
def store(url: str) -> Iterator[JobStore]:
    store = JobStore(url)
    yield store
    store.close()


def test_a_job_whose_options_cannot_run_fails_once_and_others_go_on(store: JobStore) -> None:
    bad, _ = store.create("alice", "m", JobOptions(), [("a", "text a"), ("b", "text b")])
    good, _ = store.create("alice", "m", JobOptions(max_tokens=7), [("c", "text c")])
    with store.database.begin() as conn:
        conn.execute(update(jobs).where(jobs.c.id == bad.id).values(params='{"version": 99}'))
    claim = store.claim(10)
    assert claim is not None
    assert (claim.job_id, claim.options) == (good.id, JobOptions(max_tokens=7))
    failed = store.get("alice", bad.id)
    assert failed is not None
    assert (failed.status, failed.error_code) == ("failed", INVALID_OPTIONS)
    assert "version 99" in (failed.error_message or "")
    assert store.claim(10) is None  # not handed out again
    assert store.get("alice", bad.id) == failed  # nor failed again
    with store.database.connect() as conn:
        attempts = conn.execute(select(documents.c.attempts).where(documents.c.job_id == bad.id)).scalars().all()
    assert attempts == [0, 0]  # no document of it was ever leased


# -- a server reading rows an earlier docsum wrote ---------------------------------------------


def insert_job(url: str, job_id: str, params: str, texts: list[str]) -> None:
    """A queued job as docsum 0.1.0 inserted it, in plain SQL (no code of this version)."""
    database = create_engine(url)
    with database.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO docsum_jobs (id, owner, status, model, params, total, done, failed, created_at) "
                "VALUES (:id, 'anonymous', 'queued', 'fake', :params, :total, 0, 0, :now)"
            ),
            {"id": job_id, "params": params, "total": len(texts), "now": time.time()},
        )
        for seq, body in enumerate(texts):
            conn.execute(
                text(
                    "INSERT INTO docsum_job_documents (job_id, seq, doc_id, text, state, attempts, failed) "
                    "VALUES (:job, :seq, :doc, :text, 'pending', 0, 0)"
                ),
                {"job": job_id, "seq": seq, "doc": f"d{seq}", "text": body},
            )
    database.dispose()


def wait_until_finished(client: TestClient, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not finish: {job}")


@pytest.fixture
def app_settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'jobs.db'}"})


def test_a_job_stored_by_the_previous_version_still_runs(app_settings: Settings, registry: ModelRegistry) -> None:
    app = create_app(app_settings, registry)  # makes the tables, as the earlier docsum did
    texts = ["one two three four five six", "alpha beta gamma delta epsilon"]
    insert_job(app_settings.store_url(), "old-job", '{"format": "bullets", "max_tokens": 3}', texts)
    with TestClient(app, raise_server_exceptions=False) as client:
        job = wait_until_finished(client, "old-job")
        assert (job["status"], job["progress"]) == ("succeeded", {"total": 2, "done": 2, "failed": 0})
        lines = [json.loads(line) for line in client.get("/v1/jobs/old-job/results").text.splitlines()]
        documents = [{"id": f"d{n}", "text": body} for n, body in enumerate(texts)]
        batch = client.post(
            "/v1/summarize/batch", json={"documents": documents, "format": "bullets", "max_tokens": 3}
        ).json()
    assert lines == batch["results"]
    assert lines[0]["summary"] == "- one two three"


def test_a_stored_job_that_cannot_run_fails_once_with_a_clear_error(
    app_settings: Settings, registry: ModelRegistry
) -> None:
    app = create_app(app_settings, registry)
    insert_job(app_settings.store_url(), "future-job", '{"version": 7, "max_tokens": 3}', ["one two three four"])
    with TestClient(app, raise_server_exceptions=False) as client:
        job = wait_until_finished(client, "future-job")
        assert client.get("/v1/jobs/future-job/results").text == ""
    assert job["status"] == "failed"
    assert job["error"]["code"] == INVALID_OPTIONS
    assert "version 7" in job["error"]["message"]
    database = create_engine(app_settings.store_url())
    with database.connect() as conn:
        [attempts] = conn.execute(select(documents.c.attempts).where(documents.c.job_id == "future-job")).scalars()
    database.dispose()
    assert attempts == 0
