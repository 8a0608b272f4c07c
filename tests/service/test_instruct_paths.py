"""An instruct model (the tiny random Qwen2, as the catalog entry ``qwen=instruct:DIR``) through every way in:
``docsum batch``, ``docsum eval``, a job over HTTP, streaming (tokens for one pass, progress for map-reduce)
and ``GET /v1/models``; the same code paths as any other model, and the same results on each.
(The Ray path: tests/service/test_ray_batch.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app
from service.settings import Settings
from tests.service.features.jobs.test_router import result_lines, wait_for
from tests.service.features.summarize.test_streaming import events

runner = CliRunner()
DOCUMENTS = [
    {"id": "council", "text": "The council approved the new bridge on Tuesday. Work starts in spring."},
    {"id": "flood", "text": "The river flooded the old town after three days of rain. Shops stayed shut."},
    {"id": "blank", "text": "   "},
]
# Sampled, seeded, in another language: every option of an instruct model at once.
OPTIONS = {"max_tokens": 6, "temperature": 1.2, "seed": 4, "language": "fr"}
FLAGS = ["--max-tokens", "6", "--temperature", "1.2", "--seed", "4", "--language", "fr"]


@pytest.fixture
def qwen_settings(tiny_qwen2_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    entry = f"qwen=instruct:{tiny_qwen2_dir}"
    monkeypatch.setenv("DOCSUM_MODELS", entry)  # for the CLI, which reads its settings from the environment
    return Settings(models=(entry,), default_model="qwen", database_url=f"sqlite:///{tmp_path / 'jobs.db'}")


@pytest.fixture
def client(qwen_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(qwen_settings), raise_server_exceptions=False) as client:
        yield client


def batch_endpoint(client: TestClient) -> list[dict[str, Any]]:
    response = client.post("/v1/summarize/batch", json={"documents": DOCUMENTS, **OPTIONS})
    assert response.status_code == 200, response.text
    results: list[dict[str, Any]] = response.json()["results"]
    assert [r.get("error", {}).get("code") for r in results] == [None, None, "empty_document"]
    assert all(r["model"] == "qwen" and r["summary"] for r in results[:2])
    return results


def test_docsum_batch_writes_what_the_batch_endpoint_answers(client: TestClient, tmp_path: Path) -> None:
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps(d) + "\n" for d in DOCUMENTS))
    result = runner.invoke(app, ["batch", str(source), "-o", str(out), "--model", "qwen", *FLAGS])
    assert result.exit_code == 1, result.output  # the blank document fails alone
    assert [json.loads(line) for line in out.read_text().splitlines()] == batch_endpoint(client)


def test_a_job_gives_what_the_batch_endpoint_answers(client: TestClient) -> None:
    # A job refuses a blank document up front (invalid_documents): the written ones only.
    response = client.post("/v1/jobs", json={"documents": DOCUMENTS[:2], "model": "qwen", **OPTIONS})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"], timeout=120)
    assert job["status"] == "succeeded" and job["progress"] == {"total": 2, "done": 2, "failed": 0}
    assert result_lines(client, job["id"]) == batch_endpoint(client)[:2]


def test_docsum_eval_scores_an_instruct_model_beside_lead_3(qwen_settings: Settings, tmp_path: Path) -> None:
    data = tmp_path / "eval.jsonl"
    records = [{"id": d["id"], "document": d["text"], "summary": "The bridge and the flood."} for d in DOCUMENTS[:2]]
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = runner.invoke(app, ["eval", str(data), "--model", "qwen", "--json", *FLAGS])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert (report["model"], report["n"], report["failures"], set(report["systems"])) == (
        "qwen",
        2,
        0,
        {"qwen", "lead-3"},
    ), report


def test_a_single_pass_streams_tokens_and_a_long_document_streams_progress(client: TestClient) -> None:
    body = {"text": DOCUMENTS[0]["text"], "max_tokens": 6}
    streamed = events(client.post("/v1/summarize", json={**body, "stream": True}))
    plain = client.post("/v1/summarize", json=body).json()
    assert streamed[-1] == ("summary", plain)
    assert [name for name, _ in streamed[:-1]] == ["token"] * (len(streamed) - 1) and len(streamed) > 2
    long_text = " ".join(f"In week {i}, officials reviewed the harbour and found {i % 7} faults." for i in range(60))
    body = {"text": long_text, "max_tokens": 6}
    streamed = events(client.post("/v1/summarize", json={**body, "stream": True}))
    plain = client.post("/v1/summarize", json=body).json()
    assert streamed[-1] == ("summary", plain) and plain["chunks"] and plain["reduce_rounds"] >= 1
    progress = [data for name, data in streamed if name == "progress" and data["round"] == 0]
    assert [p["chunks_done"] for p in progress] == list(range(1, len(plain["chunks"]) + 1))


def test_models_show_each_kind_and_its_context_window(
    client: TestClient, qwen_settings: Settings, tiny_bart_dir: Path
) -> None:
    settings = qwen_settings.model_copy(
        update={"models": (*qwen_settings.models, f"bart={tiny_bart_dir}"), "max_context_tokens": 384}
    )
    with TestClient(create_app(settings)) as capped:
        for model in ("qwen", "bart", "extractive"):
            assert capped.post("/v1/summarize", json={"model": model, "text": "A short note."}).status_code == 200
        listed = {m["name"]: m for m in capped.get("/v1/models").json()["models"]}
    assert (listed["qwen"]["kind"], listed["qwen"]["context_window"]) == ("instruct", 384)  # capped by the setting
    assert listed["qwen"]["max_input_tokens"] == 384 - 142  # the default answer's room kept free
    assert listed["bart"]["kind"] == "seq2seq"
    assert listed["bart"]["context_window"] == listed["bart"]["max_input_tokens"] > 0  # the encoder's window
    assert (listed["extractive"]["kind"], listed["extractive"]["context_window"]) == ("extractive", None)
    assert listed["qwen2.5-0.5b"]["context_window"] is None  # not loaded: not known yet
    # The default model, loaded at start: the checkpoint's 512 positions, under the 4,096 of the setting.
    uncapped = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert (uncapped["qwen"]["loaded"], uncapped["qwen"]["context_window"]) == (True, 512)
