"""GET /health and GET /ready."""

from __future__ import annotations

import threading

from fastapi.testclient import TestClient

from models.catalog import ModelRegistry, ModelSpec
from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeSummarizer
from tests.service.envelope import assert_envelope


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model": "fake"}


def test_ready_is_503_until_the_default_model_loads(settings: Settings) -> None:
    release = threading.Event()

    def slow_loader(spec: ModelSpec) -> FakeSummarizer:
        release.wait(10)
        return FakeSummarizer(spec.name)

    registry = ModelRegistry({"slow": ModelSpec("slow", "org/slow")}, slow_loader)
    with TestClient(create_app(settings.model_copy(update={"default_model": "slow"}), registry)) as client:
        assert_envelope(client.get("/ready"), 503, "not_ready")
        assert client.get("/health").status_code == 200
        release.set()
        assert client.post("/v1/summarize", json={"text": "now it works"}).status_code == 200
        assert client.get("/ready").status_code == 200
