"""Model memory through the engine and the HTTP API: DOCSUM_LOADABLE, the residency cap, idle unloading."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from models.catalog import ModelRegistry, ModelSpec
from models.errors import ModelsBusy
from models.residency import Residency
from models.types import SummaryOptions
from service.app import create_app
from service.engine import Engine
from service.settings import Settings
from tests.service.engine_helpers import HOLD, GatedSummarizer, queued

CATALOG = {name: ModelSpec(name, f"fake/{name}") for name in ("a", "b")}


def test_settings_read_the_allow_list() -> None:
    settings = Settings(loadable="t5-small, extractive", default_model="fake")  # type: ignore[arg-type]
    assert settings.loadable_models() == {"t5-small", "extractive", "fake"}
    assert Settings().loadable_models() is None
    assert Settings(loadable="*").loadable_models() is None  # type: ignore[arg-type]
    residency = Settings(max_resident_models=2, model_idle_seconds=600).residency()
    assert (residency.max_resident, residency.idle_seconds, residency.pinned) == (2, 600, {"extractive"})
    assert (Settings().residency().max_resident, Settings().residency().idle_seconds) == (None, None)


def test_a_model_outside_docsum_loadable_is_refused_with_403(tmp_path: Path) -> None:
    settings = Settings(loadable="extractive", data_dir=tmp_path)  # type: ignore[arg-type]
    with TestClient(create_app(settings)) as client:
        refused = client.post("/v1/summarize", json={"text": "Some text here.", "model": "t5-small"})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "model_not_loadable"
        job = client.post("/v1/jobs", json={"model": "t5-small", "documents": [{"id": "1", "text": "x"}]})
        assert job.status_code == 403
        listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert listed["t5-small"]["loadable"] is False
        assert listed["t5-small"]["available"] is False
        assert listed["extractive"]["loadable"] is True
        assert client.post("/v1/summarize", json={"text": "One sentence. Two sentences."}).status_code == 200
        assert client.get("/v1/models").json()["models"][0]["memory_bytes"] is None  # extractive: no torch module


def gated_registry(residency: Residency) -> tuple[ModelRegistry, dict[str, GatedSummarizer]]:
    built: dict[str, GatedSummarizer] = {}

    def load(spec: ModelSpec) -> GatedSummarizer:
        built[spec.name] = GatedSummarizer(spec.name)
        return built[spec.name]

    return ModelRegistry(CATALOG, load, residency=residency), built


def test_the_engine_never_evicts_a_model_with_work_queued_or_running() -> None:
    registry, built = gated_registry(Residency(max_resident=1))
    engine = Engine(registry, batch_wait_ms=0)

    async def run() -> None:
        options = SummaryOptions()
        running = asyncio.ensure_future(engine.summarize("a", [HOLD], options))
        for _ in range(3000):
            if "a" in built and built["a"].holding.is_set():
                break
            await asyncio.sleep(0.01)
        waiting = asyncio.ensure_future(engine.summarize("a", ["more text"], options))
        await queued(engine, "a", 1)
        with pytest.raises(ModelsBusy):
            await engine.summarize("b", ["text for b"], options)
        built["a"].release()
        await asyncio.gather(running, waiting)
        assert registry.is_loaded("a")
        # a is idle once its worker thread lets go (just after the results are out): it makes room
        for _ in range(500):
            try:
                await engine.summarize("b", ["text for b"], options)
                break
            except ModelsBusy:
                await asyncio.sleep(0.01)
        assert not registry.is_loaded("a")
        assert engine._workers["a"].summarizer is None  # the worker let go of it too

    try:
        asyncio.run(run())
    finally:
        engine.close()


def test_the_engine_unloads_idle_models_by_itself() -> None:
    registry, _ = gated_registry(Residency(idle_seconds=0.2))
    engine = Engine(registry, batch_wait_ms=0)
    try:
        asyncio.run(engine.summarize("a", ["text"], SummaryOptions()))
        assert registry.is_loaded("a")
        deadline = time.monotonic() + 10
        while registry.is_loaded("a") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not registry.is_loaded("a")
        assert asyncio.run(engine.summarize("a", ["text again"], SummaryOptions()))  # loaded again on use
    finally:
        engine.close()
