"""`docsum serve --model tiny=DIR`: a local checkpoint served by name, through the real app."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings


def test_local_checkpoint_is_served_by_catalog_name(tiny_bart_dir: Path, tmp_path: Path) -> None:
    settings = Settings(models=(f"tiny={tiny_bart_dir}", f"broken={tmp_path / 'missing'}"), dtype="float32")
    with TestClient(create_app(settings)) as client:
        response = client.post(
            "/v1/summarize", json={"text": "The bridge was approved today.", "model": "tiny", "max_tokens": 8}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "tiny" and body["summary"] and body["sentences"] is None
        assert body["usage"]["output_tokens"] > 0

        long_text = "The bridge was approved today. " * 60
        head = client.post("/v1/summarize", json={"text": long_text, "model": "tiny", "truncation": "head"})
        assert head.json()["truncated"] is True and head.json()["usage"]["input_tokens"] > 64
        chunked = client.post("/v1/summarize", json={"text": long_text, "model": "tiny", "max_tokens": 8}).json()
        assert chunked["truncated"] is False and chunked["reduce_rounds"] >= 1
        assert chunked["usage"]["input_tokens"] == head.json()["usage"]["input_tokens"]
        for chunk in chunked["chunks"]:
            assert long_text[chunk["offset"] : chunk["offset"] + chunk["length"]].startswith("The bridge")
        refused = client.post("/v1/summarize", json={"text": long_text, "model": "tiny", "truncation": "error"})
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "input_too_long" and error["max_input_tokens"] == 64
        assert error["input_tokens"] == head.json()["usage"]["input_tokens"]

        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["tiny"]["loaded"] is True and models["tiny"]["max_input_tokens"] == 64
        assert models["tiny"]["accelerated"] is False  # float32: transformers' own path, by request
        assert "transformers' own generation" in models["tiny"]["acceleration"]
        assert models["broken"]["accelerated"] is None
        assert models["broken"]["available"] is False and "no checkpoint directory" in models["broken"]["reason"]
        broken = client.post("/v1/summarize", json={"text": "x", "model": "broken"})
        assert broken.status_code == 503 and broken.json()["error"]["code"] == "model_unavailable"

        batch = client.post(
            "/v1/summarize/batch",
            json={
                "model": "tiny",
                "max_tokens": 6,
                "documents": [{"id": str(i), "text": f"Note {i}."} for i in range(4)],
            },
        )
        assert [r["id"] for r in batch.json()["results"]] == ["0", "1", "2", "3"]


def test_seq2seq_default_model_makes_ready_wait_for_load(tiny_bart_dir: Path) -> None:
    settings = Settings(models=(f"tiny={tiny_bart_dir}",), default_model="tiny", dtype="float32")
    with TestClient(create_app(settings)) as client:
        client.post("/v1/summarize", json={"text": "Warm up.", "max_tokens": 3})  # waits for the load
        assert client.get("/ready").json() == {"status": "ready", "model": "tiny"}
