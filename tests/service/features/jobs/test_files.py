"""POST /v1/jobs with document files: one document per `file` part, named by its file name."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.document_files import ARTICLE_HTML, make_docx, make_pdf
from tests.service.envelope import assert_envelope


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(default_model="extractive")), raise_server_exceptions=False) as client:
        yield client


def _results(client: TestClient, job_id: str) -> list[dict[str, object]]:
    for _ in range(200):
        if client.get(f"/v1/jobs/{job_id}").json()["status"] == "succeeded":
            break
        time.sleep(0.05)
    return [json.loads(line) for line in client.get(f"/v1/jobs/{job_id}/results").text.splitlines()]


def test_several_files_are_documents_keyed_by_file_name(client: TestClient) -> None:
    files = [
        ("file", ("report.pdf", make_pdf())),
        ("file", ("memo.docx", make_docx())),
        ("file", ("page.html", ARTICLE_HTML.encode())),
        ("file", ("notes.txt", b"The bridge opens in 2028. Schools wait.")),
    ]
    response = client.post("/v1/jobs", files=files, data={"sentences": "1"})
    assert response.status_code == 202, response.text
    results = _results(client, response.json()["id"])
    assert [r["id"] for r in results] == ["report.pdf", "memo.docx", "page.html", "notes.txt"]
    assert all("summary" in r for r in results)


def test_one_document_file_is_a_document_not_a_jsonl_file(client: TestClient) -> None:
    response = client.post("/v1/jobs", files={"file": ("report.pdf", make_pdf())})
    assert response.status_code == 202, response.text
    assert [r["id"] for r in _results(client, response.json()["id"])] == ["report.pdf"]


def test_files_that_cannot_be_read_are_problems_of_the_job(client: TestClient) -> None:
    files = [
        ("file", ("ok.txt", b"Fine words.")),
        ("file", ("locked.pdf", make_pdf(encrypt=True))),
        ("file", ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 16)),
        ("file", ("ok.txt", b"Same name.")),
    ]
    response = client.post("/v1/jobs", files=files)
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_documents" and error["position_is"] == "file number, from 1"
    assert [(p["position"], p["id"], p["code"]) for p in error["problems"]] == [
        (1, "ok.txt", "duplicate_id"),
        (2, "locked.pdf", "encrypted_document"),
        (3, "photo.png", "unsupported_file_type"),
        (4, "ok.txt", "duplicate_id"),
    ]
    assert client.get("/v1/jobs").json() == {"jobs": []}  # nothing stored


def test_a_jsonl_file_among_documents_is_refused(client: TestClient) -> None:
    files = [("file", ("docs.jsonl", b'{"id": "a", "text": "x"}\n')), ("file", ("a.txt", b"Words."))]
    assert_envelope(client.post("/v1/jobs", files=files), 422, "invalid_request", "file")
