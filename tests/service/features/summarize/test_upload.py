"""POST /v1/summarize with a file: extracted text, pages and offsets, the bad-file table, and the
same response from ``docsum summarize FILE --json``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from service.settings import Settings
from tests.document_files import ARTICLE_HTML, make_docx, make_email, make_pdf, make_zip_bomb
from tests.service.envelope import assert_envelope

FILES = {
    "report.pdf": make_pdf(),
    "memo.docx": make_docx(),
    "article.html": ARTICLE_HTML.encode(),
    "minutes.eml": make_email(),
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(default_model="extractive")), raise_server_exceptions=False) as client:
        yield client


def _ranges(body: dict[str, Any]) -> list[dict[str, Any]]:
    ranges = list(body.get("sentences") or []) + list(body.get("chunks") or [])
    for sentence in (body.get("grounding") or {}).get("sentences", []):
        ranges.extend(sentence["support"])
    return ranges


@pytest.mark.parametrize("name", list(FILES))
def test_every_offset_points_into_the_returned_text(client: TestClient, name: str) -> None:
    response = client.post(
        "/v1/summarize", files={"file": (name, FILES[name])}, data={"include_text": "true", "sentences": "2"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    text = body["text"]
    assert body["document"]["name"] == name and body["document"]["characters"] == len(text)
    assert body["sentences"]
    for sentence in body["sentences"]:
        assert text[sentence["offset"] : sentence["offset"] + sentence["length"]] == sentence["text"]
    assert ("pages" in body["sentences"][0]) == (name == "report.pdf")


def test_a_pdf_has_its_pages_on_every_range(client: TestClient) -> None:
    response = client.post("/v1/summarize", files={"file": ("r.pdf", FILES["report.pdf"])}, data={"sentences": "3"})
    body = response.json()
    assert "text" not in body  # only with include_text
    pages = body["document"]["pages"]
    assert [p["page"] for p in pages] == [1, 2] and body["document"]["type"] == "pdf"
    for sentence in body["sentences"]:
        on_page = [p["page"] for p in pages if p["offset"] <= sentence["offset"] < p["offset"] + p["length"]]
        assert sentence["pages"] == on_page
    assert {page for s in body["sentences"] for page in s["pages"]} == {1, 2}


def test_a_json_body_can_ask_for_its_text_back(client: TestClient) -> None:
    body = client.post("/v1/summarize", json={"text": "One. Two.", "include_text": True}).json()
    assert body["text"] == "One. Two." and "document" not in body


def test_a_file_can_be_streamed(client: TestClient) -> None:
    response = client.post("/v1/summarize", files={"file": ("m.docx", FILES["memo.docx"])}, data={"stream": "true"})
    assert response.status_code == 200
    summary = json.loads(response.text.split("event: summary\ndata: ", 1)[1].split("\n", 1)[0])
    assert summary["document"]["type"] == "docx"


@pytest.mark.parametrize(
    ("data", "status", "code"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 32, 415, "unsupported_file_type"),
        (make_pdf(encrypt=True), 422, "encrypted_document"),
        (b"%PDF-1.4\nbroken", 422, "corrupt_document"),
        (make_pdf([[]]), 422, "no_text_layer"),
        (make_zip_bomb(), 413, "archive_too_large"),
        (make_pdf([[(12, "A page.")]] * 3), 413, "too_many_pages"),
        (b"x" * 2_001, 413, "document_too_large"),
        (b"  \n ", 422, "empty_document"),
    ],
)
def test_bad_files_get_a_clear_4xx(data: bytes, status: int, code: str) -> None:
    settings = Settings(default_model="extractive", max_document_pages=2, max_document_chars=2_000)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/v1/summarize", files={"file": ("upload", data)})
    assert_envelope(response, status, code, "file")


def test_extraction_past_the_time_limit_is_refused_and_the_worker_replaced() -> None:
    settings = Settings(default_model="extractive", extraction_timeout_seconds=0.001)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        response = client.post("/v1/summarize", files={"file": ("r.pdf", FILES["report.pdf"])})
        assert_envelope(response, 422, "extraction_timeout", "file")


def test_form_mistakes_are_422(client: TestClient) -> None:
    response = client.post("/v1/summarize", files={"length": (None, "short")})  # multipart, but no file
    assert_envelope(response, 422, "invalid_request", "file")
    assert_envelope(client.post("/v1/summarize", data={"length": "short"}), 415, "unsupported_media_type")
    response = client.post("/v1/summarize", files={"file": ("a.txt", b"Words.")}, data={"max_tokens": "lots"})
    assert_envelope(response, 422, "invalid_request", "max_tokens")
    response = client.post("/v1/summarize", files={"file": ("a.txt", b"Words.")}, data={"text": "Words."})
    assert_envelope(response, 422, "invalid_request", "text")


def test_the_cli_gives_the_same_summary_and_offsets_as_the_api(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(FILES["report.pdf"])
    api = client.post("/v1/summarize", files={"file": ("report.pdf", path.read_bytes())}, data={"include_text": "true"})
    result = CliRunner().invoke(cli, ["summarize", str(path), "--json", "--include-text"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == api.json()


def test_the_cli_refuses_a_bad_file_with_its_reason(tmp_path: Path) -> None:
    path = tmp_path / "locked.pdf"
    path.write_bytes(make_pdf(encrypt=True))
    result = CliRunner().invoke(cli, ["summarize", str(path)])
    assert result.exit_code == 2
    assert "the PDF is encrypted: it needs a password to open (encrypted_document)" in result.output
