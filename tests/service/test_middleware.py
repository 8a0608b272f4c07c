"""service.middleware: request ids, body and header size limits, and a clean 500 in the envelope."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.fakes import FAIL_MARKER
from tests.service.envelope import assert_envelope


def test_body_over_the_size_limit_is_413(client: TestClient) -> None:
    assert_envelope(client.post("/v1/summarize", json={"text": "x" * 30_000}), 413, "body_too_large")


def test_streamed_body_over_the_size_limit_is_413(client: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"text": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}'

    assert_envelope(
        client.post("/v1/summarize", content=chunks(), headers={"content-type": "application/json"}),
        413,
        "body_too_large",
    )


def test_model_failure_is_a_clean_500(client: TestClient) -> None:
    body = assert_envelope(client.post("/v1/summarize", json={"text": f"x {FAIL_MARKER}"}), 500, "internal_error")
    assert "fake model broke" not in body["error"]["message"]


def test_client_request_id_is_echoed(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": "x"}, headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    odd = client.get("/health", headers={"x-request-id": "bad id\twith spaces"})
    assert odd.headers["x-request-id"] != "bad id\twith spaces"


def test_headers_over_the_limit_are_431_in_the_envelope(client: TestClient) -> None:
    response = client.get("/v1/models", headers={"x-padding": "p" * 70_000})
    assert_envelope(response, 431, "headers_too_large")
