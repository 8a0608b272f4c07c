"""GET /v1/models."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_models_lists_catalog_with_state(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["fake"]["loaded"] is True and models["fake"]["default"] is True
    assert models["fake"]["max_input_tokens"] == 50
    assert models["bart-large-cnn"]["available"] is False
    assert "HF_HUB_OFFLINE" in models["bart-large-cnn"]["reason"]
    assert set(models) >= {"extractive", "distilbart-cnn", "pegasus-cnn", "pegasus-xsum", "t5-small", "flan-t5-base"}
