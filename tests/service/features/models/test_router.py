"""GET /v1/models."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from models.catalog import BUILTIN_MODELS, ModelRegistry, build_catalog, default_loader, parse_model_entry, probe_source
from models.loading import LoadSettings
from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeSummarizer


def test_models_lists_catalog_with_state(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["fake"]["loaded"] is True and models["fake"]["default"] is True
    assert models["fake"]["max_input_tokens"] == 50
    assert models["bart-large-cnn"]["available"] is False
    assert "HF_HUB_OFFLINE" in models["bart-large-cnn"]["reason"]
    assert set(models) >= {"extractive", "distilbart-cnn", "pegasus-cnn", "pegasus-xsum", "t5-small", "flan-t5-base"}


def _with_local_model(fake: FakeSummarizer, tmp_path: Path, **settings: object) -> TestClient:
    folder = tmp_path / "secret-team" / "bart"
    entry = f"mine={folder}"
    catalog = {**BUILTIN_MODELS, **build_catalog([parse_model_entry(entry)])}
    registry = ModelRegistry(catalog, default_loader(LoadSettings()), probe_source)
    registry.add(fake)
    return TestClient(create_app(Settings(default_model="fake", **settings), registry))  # type: ignore[arg-type]


def test_local_checkpoint_paths_are_not_shown(fake: FakeSummarizer, tmp_path: Path) -> None:
    with _with_local_model(fake, tmp_path) as client:
        response = client.get("/v1/models")
        mine = {m["name"]: m for m in response.json()["models"]}["mine"]
    assert mine["source"] == "local"
    assert mine["available"] is False
    assert mine["reason"] and "<local path>" in mine["reason"]
    assert "secret-team" not in response.text


def test_local_checkpoint_paths_are_shown_when_allowed(fake: FakeSummarizer, tmp_path: Path) -> None:
    with _with_local_model(fake, tmp_path, expose_model_paths=True) as client:
        mine = {m["name"]: m for m in client.get("/v1/models").json()["models"]}["mine"]
    assert mine["source"] == str(tmp_path / "secret-team" / "bart")
