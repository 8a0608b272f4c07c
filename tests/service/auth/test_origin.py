"""CORS by allow-list (off by default), and no cross-site writes: a foreign page cannot create jobs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.catalog import ModelRegistry
from service.app import create_app
from service.settings import Settings
from tests.service.envelope import assert_envelope

APP = "https://app.example"
EVIL = "https://evil.example"
FORM = {"files": {"file": ("docs.jsonl", b'{"id": "a", "text": "Some text to summarize."}\n')}}


@pytest.fixture
def cors(registry: ModelRegistry) -> Iterator[TestClient]:
    settings = Settings(default_model="fake", cors_origins=(APP,))
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client


def preflight(client: TestClient, origin: str, method: str = "POST") -> object:
    headers = {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    return client.options("/v1/jobs", headers=headers)


def test_a_preflight_from_an_allowed_origin_is_answered(cors: TestClient) -> None:
    response = preflight(cors, APP)
    assert response.status_code == 200  # type: ignore[attr-defined]
    headers = response.headers  # type: ignore[attr-defined]
    assert headers["access-control-allow-origin"] == APP
    assert "POST" in headers["access-control-allow-methods"]
    assert "authorization" in headers["access-control-allow-headers"].lower()
    assert "access-control-allow-credentials" not in headers


def test_an_allowed_origin_reads_answers_and_their_headers(cors: TestClient) -> None:
    response = cors.post("/v1/jobs", headers={"Origin": APP}, **FORM)  # type: ignore[arg-type]
    assert response.status_code == 202
    assert response.headers["access-control-allow-origin"] == APP
    assert "location" in response.headers["access-control-expose-headers"].lower()


def test_a_preflight_from_another_origin_is_refused(cors: TestClient) -> None:
    assert_envelope(preflight(cors, EVIL), 403, "origin_not_allowed", "Origin")


@pytest.mark.parametrize("origin", [EVIL, "null"])
def test_a_cross_site_form_cannot_create_a_job(client: TestClient, origin: str) -> None:
    """A form needs no preflight; its Origin gives it away. CORS off, the default."""
    response = client.post("/v1/jobs", headers={"Origin": origin}, **FORM)  # type: ignore[arg-type]
    assert_envelope(response, 403, "origin_not_allowed", "Origin")
    assert client.get("/v1/jobs").json() == {"jobs": []}
    assert_envelope(client.delete(f"/v1/jobs/{'0' * 32}", headers={"Origin": origin}), 403, "origin_not_allowed")


def test_cors_is_off_by_default(client: TestClient) -> None:
    assert_envelope(preflight(client, APP), 403, "origin_not_allowed")
    response = client.get("/v1/models", headers={"Origin": APP})
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers


def test_same_origin_pages_and_other_clients_are_not_affected(client: TestClient) -> None:
    # The page came from this server (TestClient's host is testserver), through a TLS proxy or not.
    for origin in ("http://testserver", "https://testserver"):
        assert client.post("/v1/jobs", headers={"Origin": origin}, **FORM).status_code == 202  # type: ignore[arg-type]
    assert client.post("/v1/jobs", **FORM).status_code == 202  # type: ignore[arg-type]
    # A plain OPTIONS (not a preflight) still lists the methods.
    assert client.options("/v1/jobs").status_code == 204
