"""DOCSUM_ACCELERATE: one switch turns every speed path off, and the service and the CLI say so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app
from service.settings import Settings


@pytest.mark.parametrize(("value", "accelerate"), [("false", False), ("off", False), ("on", True), ("true", True)])
def test_the_switch_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str, accelerate: bool) -> None:
    monkeypatch.setenv("DOCSUM_ACCELERATE", value)
    assert Settings().accelerate is accelerate
    assert Settings().load_settings().accelerate is accelerate


def test_v1_models_says_the_speed_paths_are_turned_off(tiny_bart_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCSUM_ACCELERATE", "false")
    settings = Settings(models=(f"tiny={tiny_bart_dir}",), dtype="int8")
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/summarize", json={"text": "The bridge was approved today.", "model": "tiny"})
        assert response.status_code == 200, response.text
        tiny = {m["name"]: m for m in client.get("/v1/models").json()["models"]}["tiny"]
        assert tiny["accelerated"] is False
        assert tiny["acceleration"].startswith("turned off (DOCSUM_ACCELERATE=false)")


def test_docsum_batch_says_the_speed_paths_are_turned_off(
    tmp_path: Path, tiny_bart_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCSUM_ACCELERATE", "false")
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "Document number one is here."}) + "\n")
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["batch", str(source), "-o", str(out), "--model", str(tiny_bart_dir)])
    assert result.exit_code == 0, result.output
    assert "not accelerated (turned off (DOCSUM_ACCELERATE=false)" in result.output
