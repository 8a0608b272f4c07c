"""Each per-key limit counted exactly, with a clock the test moves; the RateLimit fields; two apps on one
database share the limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from models.catalog import ModelRegistry
from service.app import create_app
from service.auth.usage import usage_metadata
from service.settings import Settings
from tests.service.envelope import assert_envelope
from tests.service.keyed import bearer, write_keys

# 11:00:15 UTC on some day: 15 s into a minute, 39,615 s into the day.
START = 1_780_000_000 - 1_780_000_000 % 86400 + 11 * 3600 + 15


class Clock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, dict[str, dict[str, str]]]:
    path, keys = write_keys(tmp_path, "team-a", "team-b")
    return path, {name: bearer(key) for name, key in keys.items()}


def limited(registry: ModelRegistry, clock: Clock, keys_file: Path, **limits: Any) -> TestClient:
    settings = Settings(default_model="fake", api_keys_file=keys_file, max_document_chars=5000, **limits)
    return TestClient(create_app(settings, registry, clock=clock), raise_server_exceptions=False)


def fields(response: Any) -> tuple[str, str]:
    return response.headers["ratelimit-policy"], response.headers["ratelimit"]


def text_of(tokens: int) -> str:
    """A document the estimate counts as ``tokens`` input tokens (four characters each)."""
    return ("word " * tokens)[: 4 * tokens - 1] + "."


def test_requests_per_second(registry: ModelRegistry, clock: Clock, keys: Any) -> None:
    path, headers = keys
    with limited(registry, clock, path, limit_requests_per_second=3) as client:
        for remaining in (2, 1, 0):
            response = client.get("/v1/models", headers=headers["team-a"])
            assert response.status_code == 200
            assert fields(response) == ('"requests";q=3;w=1;qu="requests"', f'"requests";r={remaining};t=1')
        refused = client.get("/v1/models", headers=headers["team-a"])
        assert_envelope(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "1"
        assert fields(refused)[1] == '"requests";r=0;t=1'
        # Another key has its own count; the next second starts afresh.
        assert client.get("/v1/models", headers=headers["team-b"]).status_code == 200
        clock.now += 1
        assert client.get("/v1/models", headers=headers["team-a"]).status_code == 200
        # Probes count against nothing.
        assert "ratelimit" not in client.get("/health").headers


def test_input_tokens_per_minute(registry: ModelRegistry, clock: Clock, keys: Any) -> None:
    path, headers = keys
    a = headers["team-a"]
    with limited(registry, clock, path, limit_input_tokens_per_minute=100) as client:
        assert client.post("/v1/summarize", json={"text": text_of(60)}, headers=a).status_code == 200
        batch = {"documents": [{"id": "x", "text": text_of(20)}, {"id": "y", "text": text_of(20)}]}
        response = client.post("/v1/summarize/batch", json=batch, headers=a)
        assert response.status_code == 200
        assert fields(response) == ('"input-tokens";q=100;w=60;qu="tokens"', '"input-tokens";r=0;t=45')
        refused = client.post("/v1/ground", json={"text": text_of(1), "summary": "x"}, headers=a)
        assert_envelope(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "45"
        clock.now += 45
        alone = client.post("/v1/summarize", json={"text": text_of(101)}, headers=a)
        assert "alone needs 101" in assert_envelope(alone, 429, "rate_limited")["error"]["message"]
        assert client.post("/v1/ground", json={"text": text_of(99), "summary": "x"}, headers=a).status_code == 200


def test_documents_per_day_all_or_nothing(registry: ModelRegistry, clock: Clock, keys: Any) -> None:
    path, headers = keys
    a = headers["team-a"]
    until_midnight = 86400 - 11 * 3600 - 15
    with limited(registry, clock, path, limit_documents_per_day=5, limit_input_tokens_per_minute=1000) as client:
        docs = [{"id": str(n), "text": text_of(10)} for n in range(3)]
        assert client.post("/v1/summarize/batch", json={"documents": docs}, headers=a).status_code == 200
        refused = client.post("/v1/summarize/batch", json={"documents": docs}, headers=a)
        assert_envelope(refused, 429, "quota_exceeded")
        assert refused.headers["retry-after"] == str(until_midnight)
        # The refused batch took none of the tokens either.
        assert '"input-tokens";r=970;t=45' in fields(refused)[1]
        assert client.post("/v1/jobs", json={"documents": docs[:2]}, headers=a).status_code == 202
        assert_envelope(client.post("/v1/summarize", json={"text": "One."}, headers=a), 429, "quota_exceeded")
        clock.now += until_midnight
        assert client.post("/v1/summarize", json={"text": "One."}, headers=a).status_code == 200


def test_stored_job_bytes_per_day(registry: ModelRegistry, clock: Clock, keys: Any) -> None:
    path, headers = keys
    a = headers["team-a"]
    doc = {"id": "é1", "text": "Ünïcode text, counted in UTF-8 bytes."}
    size = len(doc["id"].encode()) + len(doc["text"].encode())
    with limited(registry, clock, path, limit_stored_bytes_per_day=2 * size) as client:
        replay = {**a, "Idempotency-Key": "k"}
        assert client.post("/v1/jobs", json={"documents": [doc]}, headers=replay).status_code == 202
        # Replaying the same job stores nothing and costs nothing.
        again = client.post("/v1/jobs", json={"documents": [doc]}, headers=replay)
        assert again.headers["idempotent-replayed"] == "true"
        second = client.post("/v1/jobs", json={"documents": [doc]}, headers=a)
        assert second.status_code == 202
        assert fields(second) == (
            f'"stored-bytes";q={2 * size};w=86400;qu="content-bytes"',
            f'"stored-bytes";r=0;t={86400 - 11 * 3600 - 15}',
        )
        assert_envelope(client.post("/v1/jobs", json={"documents": [doc]}, headers=a), 429, "quota_exceeded")
        # A replay is answered even with the quota used up: a client retrying gets its job.
        assert client.post("/v1/jobs", json={"documents": [doc]}, headers=replay).status_code == 202
        assert len(client.get("/v1/jobs", headers=a).json()["jobs"]) == 2
        # Another key has its own quota.
        assert client.post("/v1/jobs", json={"documents": [doc]}, headers=headers["team-b"]).status_code == 202


def test_concurrent_streams(registry: ModelRegistry, clock: Clock, keys: Any) -> None:
    path, headers = keys
    a = headers["team-a"]
    body = {"text": text_of(30), "stream": True}
    with limited(registry, clock, path, limit_concurrent_streams=1) as client:
        with client.stream("POST", "/v1/summarize", json=body, headers=a) as held:
            assert held.status_code == 200
            assert '"streams";r=0;t=0' in held.headers["ratelimit"]
            refused = client.post("/v1/summarize", json=body, headers=a)
            assert_envelope(refused, 429, "rate_limited")
            assert '"streams";q=1;qu="concurrent-requests"' in refused.headers["ratelimit-policy"]
            assert client.post("/v1/summarize", json=body, headers=headers["team-b"]).status_code == 200
            held.read()
        # The stream ended: its slot is free again.
        assert client.post("/v1/summarize", json=body, headers=a).status_code == 200


@pytest.fixture
def shared_url(url: str) -> Iterator[str]:
    """The job store's URL (SQLite file, PostgreSQL), with no usage counted yet."""
    engine = create_engine(url)
    usage_metadata.drop_all(engine)
    engine.dispose()
    yield url


def test_two_replicas_on_one_database_share_the_limits(
    registry: ModelRegistry, clock: Clock, keys: Any, shared_url: str
) -> None:
    path, headers = keys
    a = headers["team-a"]
    limits = {"database_url": shared_url, "limit_requests_per_second": 4, "limit_documents_per_day": 3}
    with limited(registry, clock, path, **limits) as one, limited(registry, clock, path, **limits) as two:
        assert one.post("/v1/summarize", json={"text": "One."}, headers=a).status_code == 200
        assert two.post("/v1/summarize", json={"text": "Two."}, headers=a).status_code == 200
        assert one.get("/v1/models", headers=a).status_code == 200
        assert fields(two.get("/v1/models", headers=a))[1] == '"requests";r=0;t=1'
        assert_envelope(one.get("/v1/models", headers=a), 429, "rate_limited")
        clock.now += 1
        assert one.post("/v1/summarize", json={"text": "Three."}, headers=a).status_code == 200
        assert_envelope(two.post("/v1/summarize", json={"text": "Four."}, headers=a), 429, "quota_exceeded")


def test_a_key_can_have_its_own_limits(registry: ModelRegistry, clock: Clock, tmp_path: Path) -> None:
    """The key file's line sets team-a's limit; team-b keeps the setting's."""
    path, keys = write_keys(tmp_path, "team-a", "team-b")
    lines = path.read_text().splitlines()
    path.write_text(
        "\n".join(line + ":requests_per_second=3" if line.startswith("team-a:") else line for line in lines)
    )
    a, b = bearer(keys["team-a"]), bearer(keys["team-b"])
    with limited(registry, clock, path, limit_requests_per_second=1) as client:
        assert [client.get("/v1/models", headers=a).status_code for _ in range(4)] == [200, 200, 200, 429]
        assert [client.get("/v1/models", headers=b).status_code for _ in range(2)] == [200, 429]
