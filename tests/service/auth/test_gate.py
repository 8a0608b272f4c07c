"""Every route but /health and /ready needs a key when keys are on; open mode; the refusal to expose."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.catalog import ModelRegistry
from service.app import create_app
from service.auth.gate import AuthConfigError
from service.settings import Settings
from tests.service.envelope import assert_envelope
from tests.service.keyed import bearer, write_keys

TEXT = {"text": "The council voted to build a bridge. It will cost a lot. Work starts in spring."}
BODIES = {
    "/v1/summarize": TEXT,
    "/v1/summarize/batch": {"documents": [{"id": "a", **TEXT}]},
    "/v1/ground": {**TEXT, "summary": "The council voted."},
    "/v1/jobs": {"documents": [{"id": "a", **TEXT}]},
}


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    return write_keys(tmp_path, "team-a", "team-b")


@pytest.fixture
def keyed(keys: tuple[Path, dict[str, str]], registry: ModelRegistry) -> Iterator[TestClient]:
    settings = Settings(default_model="fake", api_keys_file=keys[0])
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client


def routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every route in the OpenAPI document, parameters filled in."""
    paths = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [
        (method.upper(), path.replace("{job_id}", "0" * 32))
        for path, operations in paths.items()
        for method in sorted(operations)
    ]


def test_every_route_but_health_and_ready_needs_a_key(keyed: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    seen = set()
    for method, path in routes(keyed):
        seen.add(path)
        body = BODIES.get(path) if method == "POST" else None
        response = keyed.request(method, path, json=body)
        if path in ("/health", "/ready"):
            assert response.status_code == 200, (method, path)
            continue
        assert_envelope(response, 401, "missing_api_key", "Authorization")
        assert response.headers["www-authenticate"].startswith("Bearer")
        allowed = keyed.request(method, path, json=body, headers=bearer(keys[1]["team-a"]))
        assert allowed.status_code in (200, 202, 404), (method, path, allowed.text)  # 404: no such job
    assert {"/v1/summarize", f"/v1/jobs/{'0' * 32}/results", "/v1/models", "/v1/ground", "/health"} <= seen


def test_a_streamed_summary_needs_a_key(keyed: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    body = {**TEXT, "stream": True}
    assert_envelope(keyed.post("/v1/summarize", json=body), 401, "missing_api_key")
    with keyed.stream("POST", "/v1/summarize", json=body, headers=bearer(keys[1]["team-a"])) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert "event: summary" in response.read().decode()


def test_job_results_are_read_with_the_key_that_owns_them(keyed: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    a, b = bearer(keys[1]["team-a"]), bearer(keys[1]["team-b"])
    job_id = keyed.post("/v1/jobs", json=BODIES["/v1/jobs"], headers=a).json()["id"]
    assert_envelope(keyed.get(f"/v1/jobs/{job_id}/results"), 401, "missing_api_key")
    assert_envelope(keyed.get(f"/v1/jobs/{job_id}/results", headers=b), 404, "job_not_found")
    assert keyed.get(f"/v1/jobs/{job_id}/results", headers=a).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer dsk_not-a-key"},
        {"X-API-Key": "dsk_not-a-key"},
        {"Authorization": "Basic dGVhbTpwYXNz"},
        {"Authorization": "Bearer"},
    ],
)
def test_a_wrong_key_is_401_invalid_api_key(keyed: TestClient, headers: dict[str, str]) -> None:
    response = keyed.get("/v1/models", headers=headers)
    assert_envelope(response, 401, "invalid_api_key", "Authorization")
    assert "dsk_not-a-key" not in response.text


def test_both_headers_carry_the_key(keyed: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    key = keys[1]["team-b"]
    assert keyed.get("/v1/models", headers={"X-API-Key": key}).status_code == 200
    assert keyed.get("/v1/models", headers={"Authorization": f"bearer  {key} "}).status_code == 200
    # X-API-Key goes first: an Authorization header may be meant for a proxy in front.
    assert keyed.get("/v1/models", headers={"X-API-Key": key, "Authorization": "Basic eDp5"}).status_code == 200


def test_open_mode_needs_no_key_and_all_callers_share_the_jobs(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json=BODIES["/v1/jobs"]).json()["id"]
    # Any Authorization header is ignored: there are no keys to tell callers apart.
    assert client.get(f"/v1/jobs/{job_id}", headers={"Authorization": "Bearer whatever"}).status_code == 200


def test_docs_are_behind_the_keys_when_keys_are_on(keyed: TestClient, keys: tuple[Path, dict[str, str]]) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert_envelope(keyed.get(path), 401, "missing_api_key")
        assert keyed.get(path, headers=bearer(keys[1]["team-a"])).status_code == 200
    assert "/v1/jobs" in keyed.get("/openapi.json", headers=bearer(keys[1]["team-a"])).json()["paths"]


@pytest.mark.parametrize(("api_docs", "status"), [("public", 200), ("off", 404)])
def test_docs_can_be_public_or_off(
    api_docs: str, status: int, keys: tuple[Path, dict[str, str]], registry: ModelRegistry
) -> None:
    settings = Settings(default_model="fake", api_keys_file=keys[0], api_docs=api_docs)  # type: ignore[arg-type]
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(path).status_code == status, path


def test_docs_are_public_in_open_mode(client: TestClient) -> None:
    assert client.get("/openapi.json").status_code == 200


def test_serving_the_network_without_keys_is_refused(registry: ModelRegistry) -> None:
    for host in ("0.0.0.0", "::", "192.168.1.20", "docsum.internal"):
        with pytest.raises(AuthConfigError, match="refusing to serve"):
            create_app(Settings(default_model="fake", host=host), registry)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        create_app(Settings(default_model="fake", host=host), registry)


def test_open_mode_on_the_network_when_said_outright_warns(
    registry: ModelRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="service.auth.gate"):
        create_app(Settings(default_model="fake", host="0.0.0.0", auth="open"), registry)
    assert "NO AUTHENTICATION" in caplog.text


def test_contradictory_auth_settings_are_refused(keys: tuple[Path, dict[str, str]], registry: ModelRegistry) -> None:
    with pytest.raises(AuthConfigError, match="needs DOCSUM_API_KEYS_FILE"):
        create_app(Settings(default_model="fake", auth="keys"), registry)
    with pytest.raises(AuthConfigError, match="contradict"):
        create_app(Settings(default_model="fake", auth="open", api_keys_file=keys[0]), registry)
    with pytest.raises(AuthConfigError, match="cannot read"):
        create_app(Settings(default_model="fake", api_keys_file=keys[0].parent / "missing"), registry)
