"""The checks every feature makes (service.features.base) answer alike on every endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.settings import Settings
from tests.service.envelope import assert_envelope

QUERY = "q" * 1001  # the default DOCSUM_MAX_QUERY_CHARS is 1000


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/summarize", {"text": "some words", "query": QUERY}),
        ("/v1/summarize", {"text": "some words", "query": QUERY, "stream": True}),
        ("/v1/summarize/batch", {"documents": [{"id": "a", "text": "some words"}], "query": QUERY}),
        ("/v1/jobs", {"documents": [{"id": "a", "text": "some words"}], "query": QUERY}),
    ],
)
def test_a_long_query_is_query_too_long_everywhere(client: TestClient, path: str, body: dict[str, Any]) -> None:
    error = assert_envelope(client.post(path, json=body), 422, "query_too_long", "query")["error"]
    assert error["message"] == "query has 1001 characters; the limit is 1000"


def test_a_long_query_in_an_upload_is_query_too_long(client: TestClient) -> None:
    upload = {"file": ("docs.jsonl", json.dumps({"id": "a", "text": "some words"}) + "\n")}
    response = client.post("/v1/jobs", files=upload, data={"query": QUERY})
    assert_envelope(response, 422, "query_too_long", "query")


def test_a_document_over_the_limit_has_the_same_reason_everywhere(client: TestClient, settings: Settings) -> None:
    limit = settings.max_document_chars
    text = "x" * (limit + 1)
    reason = f"has {limit + 1} characters; the limit is {limit}"
    summarize = assert_envelope(client.post("/v1/summarize", json={"text": text}), 413, "document_too_large", "text")
    assert summarize["error"]["message"] == f"text {reason}"
    for field in ("text", "summary"):
        body = {"text": "a source", "summary": "a summary", field: text}
        ground = assert_envelope(client.post("/v1/ground", json=body), 413, "document_too_large", field)
        assert ground["error"]["message"] == f"{field} {reason}"
    submitted = client.post("/v1/jobs", json={"documents": [{"id": "a", "text": text}]})
    assert (submitted.status_code, submitted.json()["error"]["code"]) == (422, "invalid_documents")
    [problem] = submitted.json()["error"]["problems"]
    assert (problem["code"], problem["message"]) == ("document_too_large", f"the text {reason}")


@pytest.mark.parametrize("path", ["/v1/summarize", "/v1/summarize/batch", "/v1/jobs"])
def test_an_unknown_model_is_model_not_found_everywhere(client: TestClient, path: str) -> None:
    document = {"id": "a", "text": "some words"}
    body = {"text": "some words"} if path == "/v1/summarize" else {"documents": [document]}
    assert_envelope(client.post(path, json={**body, "model": "nope"}), 404, "model_not_found", "model")
