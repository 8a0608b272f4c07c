"""POST/GET/DELETE /v1/jobs over the app with a fake model: protocol, validation, idempotency, expiry."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from models.catalog import BUILTIN_MODELS, ModelRegistry, default_loader, probe_source
from models.loading import LoadSettings
from models.types import EventSink, Summary, SummaryOptions
from service.app import create_app
from service.deps import context_of
from service.engine import Priority
from service.features.jobs import tables
from service.settings import Settings
from tests.fakes import FAIL_MARKER, FakeSummarizer
from tests.service.keyed import bearer, write_keys

FINISHED = {"succeeded", "failed", "cancelled"}


def wait_for(client: TestClient, job_id: str, statuses: set[str] = FINISHED, timeout: float = 15) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in statuses:
            return job
        time.sleep(0.02)
    raise AssertionError(f"job {job_id} did not reach {statuses}: {job}")


def result_lines(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/jobs/{job_id}/results")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/jsonl")
    return [json.loads(line) for line in response.text.splitlines()]


def jsonl(records: Sequence[object]) -> bytes:
    return "".join(json.dumps(r) + "\n" if not isinstance(r, str) else r + "\n" for r in records).encode()


DOCS = [
    {"id": "a", "text": "one two three four five six seven"},
    {"id": "b", "text": f"broken {FAIL_MARKER} document here"},
    {"id": "c", "text": "alpha beta gamma delta epsilon zeta eta theta"},
]


def test_a_json_job_runs_to_the_same_results_as_the_batch_endpoint(client: TestClient) -> None:
    response = client.post("/v1/jobs", json={"documents": DOCS, "max_tokens": 3})
    assert response.status_code == 202, response.text
    job = response.json()
    assert response.headers["location"] == f"/v1/jobs/{job['id']}"
    assert job["status"] in {"queued", "running", "succeeded"}
    assert job["progress"]["total"] == 3
    assert job["results_url"] == f"/v1/jobs/{job['id']}/results"

    finished = wait_for(client, job["id"])
    assert finished["status"] == "succeeded"
    assert finished["progress"] == {"total": 3, "done": 3, "failed": 1}
    assert finished["created_at"] <= finished["started_at"] <= finished["finished_at"] < finished["expires_at"]
    batch = client.post("/v1/summarize/batch", json={"documents": DOCS, "max_tokens": 3}).json()["results"]
    assert result_lines(client, job["id"]) == batch
    assert [line["id"] for line in batch] == ["a", "b", "c"]
    assert batch[1]["error"]["code"]


def test_a_jsonl_upload_is_the_same_job_as_json(client: TestClient) -> None:
    upload = jsonl([{"id": d["id"], "text": d["text"]} for d in DOCS])
    response = client.post("/v1/jobs", files={"file": ("docs.jsonl", upload)}, data={"max_tokens": "3"})
    assert response.status_code == 202, response.text
    from_upload = wait_for(client, response.json()["id"])
    from_json = wait_for(client, client.post("/v1/jobs", json={"documents": DOCS, "max_tokens": 3}).json()["id"])
    assert result_lines(client, from_upload["id"]) == result_lines(client, from_json["id"])


def test_bad_lines_of_an_upload_are_all_named_and_nothing_is_stored(client: TestClient) -> None:
    upload = jsonl(
        [{"id": "ok", "text": "fine text"}, "{not json", {"id": "no-text"}, {"id": "ok", "text": "again"}, ""]
    )
    response = client.post("/v1/jobs", files={"file": ("docs.jsonl", upload)})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_documents"
    # Every problem in one answer: bad lines and a duplicate id alike, in line order.
    assert [(p["position"], p["code"]) for p in error["problems"]] == [
        (1, "duplicate_id"),
        (2, "invalid_line"),
        (3, "invalid_line"),
        (4, "duplicate_id"),
    ]
    assert client.get("/v1/jobs").json() == {"jobs": []}


def test_a_csv_upload_is_the_same_job_as_json(client: TestClient) -> None:
    table = "id,text\n" + "".join(f'{d["id"]},"{d["text"]}"\n' for d in DOCS)
    response = client.post("/v1/jobs", files={"file": ("docs.csv", table.encode())}, data={"max_tokens": "3"})
    assert response.status_code == 202, response.text
    from_upload = wait_for(client, response.json()["id"])
    from_json = wait_for(client, client.post("/v1/jobs", json={"documents": DOCS, "max_tokens": 3}).json()["id"])
    assert result_lines(client, from_upload["id"]) == result_lines(client, from_json["id"])


def test_bad_rows_of_a_csv_upload_are_named_by_row(client: TestClient) -> None:
    table = b"id,text\nok,fine text\nbroken\n,no id\nok,again\n"
    response = client.post("/v1/jobs", files={"file": ("docs.csv", table)})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_documents"
    assert error["message"] == "4 bad rows; nothing was stored (row 2, 3, 4, 5)"
    assert error["position_is"] == "row number, from 1"
    assert [(p["position"], p["code"], p["message"]) for p in error["problems"]] == [
        (2, "duplicate_id", "id 'ok' appears more than once"),
        (3, "invalid_line", "row 3 has 1 cells; the header has 2"),
        (4, "invalid_line", "row 4 has an empty `id`"),
        (5, "duplicate_id", "id 'ok' appears more than once"),
    ]
    assert client.get("/v1/jobs").json() == {"jobs": []}


def test_a_csv_upload_without_a_text_column_is_refused(client: TestClient) -> None:
    response = client.post("/v1/jobs", files={"file": ("docs.csv", b"id,body\na,words\n")})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == "file"
    message = "the uploaded file cannot be read as CSV: the CSV header has no `text` (or `document`) column"
    assert error["message"] == message


def test_an_upload_not_named_csv_is_read_as_jsonl(client: TestClient) -> None:
    response = client.post("/v1/jobs", files={"file": ("docs", b"id,text\na,words\n")})
    assert response.status_code == 422
    problems = response.json()["error"]["problems"]
    assert [(p["position"], p["code"]) for p in problems] == [(1, "invalid_line"), (2, "invalid_line")]


def test_bad_documents_of_a_json_job_are_all_named(client: TestClient, settings: Settings) -> None:
    documents = [
        {"id": "x", "text": "fine"},
        {"id": "x", "text": "same id"},
        {"id": "empty", "text": "   "},
        {"id": "huge", "text": "w " * settings.max_document_chars},
    ]
    response = client.post("/v1/jobs", json={"documents": documents})
    assert response.status_code == 422
    error = response.json()["error"]
    problems = [(p["position"], p["id"], p["code"]) for p in error["problems"]]
    assert problems == [
        (1, "x", "duplicate_id"),
        (2, "x", "duplicate_id"),
        (3, "empty", "empty_document"),
        (4, "huge", "document_too_large"),
    ]
    assert error["problem_count"] == 4
    assert client.get("/v1/jobs").json() == {"jobs": []}


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"documents": DOCS, "model": "nope"}, 404, "model_not_found"),
        ({"documents": DOCS, "sentences": 2}, 422, "unsupported_option"),
        ({"documents": DOCS, "max_tokens": 0}, 422, "invalid_request"),
        ({"documents": []}, 422, "invalid_request"),
        ({"documents": DOCS, "surprise": 1}, 422, "invalid_request"),
    ],
)
def test_invalid_jobs_are_refused_up_front(client: TestClient, body: dict[str, Any], status: int, code: str) -> None:
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert client.get("/v1/jobs").json() == {"jobs": []}


def test_a_body_that_is_neither_json_nor_an_upload_is_415(client: TestClient) -> None:
    response = client.post("/v1/jobs", content=b"hello", headers={"content-type": "text/plain"})
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_an_idempotency_key_returns_the_same_job_and_refuses_another_body(client: TestClient) -> None:
    headers = {"Idempotency-Key": "import-2026-11-23"}
    first = client.post("/v1/jobs", json={"documents": DOCS}, headers=headers)
    again = client.post("/v1/jobs", json={"documents": DOCS}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    other = client.post("/v1/jobs", json={"documents": DOCS[:1]}, headers=headers)
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert len(client.get("/v1/jobs").json()["jobs"]) == 1


@pytest.fixture
def keyed(tmp_path: Path, registry: ModelRegistry) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """An app with two API keys, ``mine`` and ``yours``: (client, the header of each)."""
    path, keys = write_keys(tmp_path, "mine", "yours")
    settings = Settings(default_model="fake", api_keys_file=path)
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client, {name: bearer(key) for name, key in keys.items()}


def test_idempotency_keys_belong_to_the_api_key(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = keyed
    idempotency = {"Idempotency-Key": "import-2026-11-23"}
    first = client.post("/v1/jobs", json={"documents": DOCS}, headers={**idempotency, **headers["mine"]})
    theirs = client.post("/v1/jobs", json={"documents": DOCS}, headers={**idempotency, **headers["yours"]})
    assert first.status_code == theirs.status_code == 202
    assert theirs.json()["id"] != first.json()["id"]
    assert len(client.get("/v1/jobs", headers=headers["mine"]).json()["jobs"]) == 1


def test_jobs_are_visible_to_their_key_only(keyed: tuple[TestClient, dict[str, str]]) -> None:
    client, headers = keyed
    mine, yours = headers["mine"], headers["yours"]
    job_id = client.post("/v1/jobs", json={"documents": DOCS}, headers=mine).json()["id"]
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/results"):
        response = client.get(path, headers=yours)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "job_not_found"
    assert client.delete(f"/v1/jobs/{job_id}", headers=yours).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}", headers=mine).status_code == 200
    assert client.get("/v1/jobs", headers=yours).json() == {"jobs": []}
    # The X-API-Key header is the same key.
    assert client.get(f"/v1/jobs/{job_id}", headers={"X-API-Key": mine["Authorization"][7:]}).status_code == 200


def test_jobs_are_listed_newest_first_and_by_status(client: TestClient) -> None:
    ids = [client.post("/v1/jobs", json={"documents": DOCS[:1]}).json()["id"] for _ in range(3)]
    for job_id in ids:
        wait_for(client, job_id)
    listed = client.get("/v1/jobs").json()["jobs"]
    assert [job["id"] for job in listed] == ids[::-1]
    assert [job["id"] for job in client.get("/v1/jobs?limit=1&offset=1").json()["jobs"]] == [ids[1]]
    assert client.get("/v1/jobs?status=running").json() == {"jobs": []}
    assert len(client.get("/v1/jobs?status=succeeded").json()["jobs"]) == 3


class GatedSummarizer(FakeSummarizer):
    """Holds every call until the test opens the gate; counts the documents it was given."""

    def __init__(self) -> None:
        super().__init__("gated")
        self.gate = threading.Event()
        self.entered = threading.Event()

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        self.entered.set()
        assert self.gate.wait(10)
        return super().summarize(texts, options, on_event=on_event)


@pytest.fixture
def gated() -> GatedSummarizer:
    return GatedSummarizer()


@pytest.fixture
def gated_client(gated: GatedSummarizer, tmp_path: Any) -> Iterator[TestClient]:
    registry = ModelRegistry(BUILTIN_MODELS, default_loader(LoadSettings()), probe_source)
    registry.add(gated)
    settings = Settings(default_model="gated", batch_size=2, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client
        gated.gate.set()


def test_cancel_stops_a_running_job_and_keeps_finished_results(
    gated_client: TestClient, gated: GatedSummarizer
) -> None:
    documents = [{"id": f"d{n}", "text": f"document number {n} text"} for n in range(40)]
    job_id = gated_client.post("/v1/jobs", json={"documents": documents}).json()["id"]
    assert gated.entered.wait(10)
    running = wait_for(gated_client, job_id, {"running"})
    assert running["progress"]["done"] == 0
    cancelled = gated_client.delete(f"/v1/jobs/{job_id}")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    gated.gate.set()
    time.sleep(0.3)
    job = gated_client.get(f"/v1/jobs/{job_id}").json()
    assert job["status"] == "cancelled"
    assert job["progress"]["done"] < 40
    lines = result_lines(gated_client, job_id)
    assert len(lines) == job["progress"]["done"]
    positions = [int(line["id"][1:]) for line in lines]
    assert positions == sorted(set(positions))  # input order, once each
    # The texts of documents that will never run are gone at once; the results stay.
    store = context_of(gated_client.app).job_store  # type: ignore[arg-type]
    with store.database.connect() as conn:
        texts = conn.execute(select(tables.documents.c.text).where(tables.documents.c.job_id == job_id)).scalars().all()
    assert len(texts) == 40
    assert set(texts) == {""}
    # Deleting the finished (cancelled) job deletes it with everything it stored.
    assert gated_client.delete(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert gated_client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert gated_client.get(f"/v1/jobs/{job_id}/results").status_code == 404
    with store.database.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.documents)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(tables.jobs)).scalar() == 0


def test_deleting_a_finished_job_purges_what_it_stored(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json={"documents": DOCS}).json()["id"]
    assert wait_for(client, job_id)["status"] == "succeeded"
    store = context_of(client.app).job_store  # type: ignore[arg-type]
    with store.database.connect() as conn:
        # A finished document keeps its result line, not its text.
        assert set(conn.execute(select(tables.documents.c.text)).scalars()) == {""}
    deleted = client.delete(f"/v1/jobs/{job_id}")
    assert deleted.status_code == 200
    assert deleted.json()["status"] == "succeeded"
    assert client.get(f"/v1/jobs/{job_id}").status_code == 404
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 404
    with store.database.connect() as conn:
        assert conn.execute(select(func.count()).select_from(tables.documents)).scalar() == 0


def test_an_interactive_call_is_answered_while_a_job_waits(gated_client: TestClient, gated: GatedSummarizer) -> None:
    documents = [{"id": f"d{n}", "text": f"document number {n} text"} for n in range(20)]
    job_id = gated_client.post("/v1/jobs", json={"documents": documents}).json()["id"]
    assert gated.entered.wait(10)
    answer: dict[str, Any] = {}
    caller = threading.Thread(
        target=lambda: answer.update(gated_client.post("/v1/summarize", json={"text": "quick one"}).json())
    )
    caller.start()
    worker = context_of(gated_client.app).engine._worker("gated")  # type: ignore[arg-type]
    deadline = time.monotonic() + 10
    while not any(item.ticket.priority == Priority.INTERACTIVE for item in worker.items):  # queued behind the job
        assert time.monotonic() < deadline, "the interactive request never reached the queue"
        time.sleep(0.005)
    gated.gate.set()
    caller.join(10)
    assert answer["summary"] == "quick one"
    # The interactive text went into the first call after the job's running one, ahead of queued job documents.
    assert "quick one" in gated.calls[1], gated.calls
    assert wait_for(gated_client, job_id)["status"] == "succeeded"


def test_finished_jobs_expire_after_the_retention(registry: ModelRegistry, tmp_path: Any) -> None:
    settings = Settings(default_model="fake", job_retention_hours=1.5 / 3600, data_dir=tmp_path / "data")
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        job_id = client.post("/v1/jobs", json={"documents": DOCS[:1]}).json()["id"]
        job = wait_for(client, job_id)
        assert job["status"] == "succeeded"
        time.sleep(1.6)
        assert client.get(f"/v1/jobs/{job_id}").status_code == 404
        assert client.get(f"/v1/jobs/{job_id}/results").status_code == 404
        assert client.get("/v1/jobs").json() == {"jobs": []}


def test_the_job_body_has_its_own_size_limit(registry: ModelRegistry, tmp_path: Any) -> None:
    settings = Settings(default_model="fake", max_body_bytes=2048, max_job_body_bytes=4096, data_dir=tmp_path / "d")
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        documents = [{"id": str(n), "text": "word " * 50} for n in range(10)]  # ~3 KB: a job, not a batch
        assert client.post("/v1/jobs", json={"documents": documents}).status_code == 202
        assert client.post("/v1/summarize/batch", json={"documents": documents}).status_code == 413
        too_big = client.post("/v1/jobs", json={"documents": documents * 2})
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "body_too_large"


def test_the_openapi_document_describes_both_job_bodies(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    content = spec["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert set(content) == {"application/json", "multipart/form-data"}
    assert content["application/json"]["schema"]["properties"]["documents"]["items"]["$ref"].endswith("/JobDocument")
    assert "JobDocument" in spec["components"]["schemas"]
