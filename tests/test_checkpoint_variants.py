"""Checkpoints built unlike the test ones (``tests/variants.py``) go through every path docsum has.

Single, batch, chunked map-reduce and streamed requests, a job, ``docsum batch``, the
Ray engine and the CTranslate2 backend: each gives a 200 (or an exit code of 0) with a
summary per document, never a 500, an error event or a failed document. The model
with empty outputs has one documented outcome: a summary of ``""``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.app import create_app
from service.cli import app as cli
from service.settings import Settings
from tests.conftest import NEWS_ARTICLE
from tests.service.features.jobs.test_router import result_lines, wait_for
from tests.service.features.summarize.test_streaming import events
from tests.variants import VARIANTS, build_variant

# Builds foreign checkpoints and runs each through every path.
pytestmark = pytest.mark.slow

runner = CliRunner()
LONG = " ".join([NEWS_ARTICLE] * 3)  # several windows of every variant
DOCUMENTS = [{"id": "short", "text": "A short note about the weather."}, {"id": "news", "text": NEWS_ARTICLE}]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    name = request.param
    return name, build_variant(tmp_path_factory.mktemp(name), VARIANTS[name])


@pytest.fixture(scope="module")
def client(variant: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """The variant served with the default dtype (int8 and scripted steps on a VNNI CPU)."""
    data = tmp_path_factory.mktemp("data")
    settings = Settings(models=(f"v={variant[1]}",), default_model="v", data_dir=data)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _check_summary(name: str, body: dict[str, Any]) -> None:
    assert isinstance(body["summary"], str)
    if name == "empty-output":
        assert body["summary"] == ""
    else:
        assert body["summary"].strip()


def test_single_batch_and_default_lengths(variant: tuple[str, Path], client: TestClient) -> None:
    name = variant[0]
    for body in ({"text": NEWS_ARTICLE, "max_tokens": 8}, {"text": NEWS_ARTICLE}, {"text": "Short.", "num_beams": 2}):
        response = client.post("/v1/summarize", json=body)
        assert response.status_code == 200, response.text
        _check_summary(name, response.json())
    batch = client.post("/v1/summarize/batch", json={"documents": DOCUMENTS, "max_tokens": 6})
    assert batch.status_code == 200, batch.text
    results = batch.json()["results"]
    assert [r["id"] for r in results] == ["short", "news"] and all("error" not in r for r in results)
    for result in results:
        _check_summary(name, result)
    [model] = [m for m in client.get("/v1/models").json()["models"] if m["name"] == "v"]
    assert model["accelerated"] is True, model["acceleration"]  # int8 on this CPU: every speed path engaged


def test_long_documents_in_chunks_plain_and_streamed(variant: tuple[str, Path], client: TestClient) -> None:
    name = variant[0]
    response = client.post("/v1/summarize", json={"text": LONG, "max_tokens": 8})
    assert response.status_code == 200, response.text
    body = response.json()
    _check_summary(name, body)
    assert body["reduce_rounds"] >= 1 and len(body["chunks"]) >= 2
    for chunk in body["chunks"]:
        assert LONG[chunk["offset"] : chunk["offset"] + chunk["length"]].strip()
    for text in (LONG, NEWS_ARTICLE[:120]):
        streamed = events(client.post("/v1/summarize", json={"text": text, "max_tokens": 8, "stream": True}))
        assert streamed[-1][0] == "summary", streamed[-1]
        _check_summary(name, streamed[-1][1])


def test_a_job_runs_every_document(variant: tuple[str, Path], client: TestClient) -> None:
    documents = [*DOCUMENTS, {"id": "long", "text": LONG}]
    response = client.post("/v1/jobs", json={"documents": documents, "max_tokens": 6})
    assert response.status_code == 202, response.text
    job = wait_for(client, response.json()["id"], timeout=120)
    assert job["status"] == "succeeded" and job["progress"]["failed"] == 0, job
    lines = result_lines(client, job["id"])
    assert [line["id"] for line in lines] == ["short", "news", "long"]
    for line in lines:
        _check_summary(variant[0], line)


@pytest.fixture
def jsonl_input(tmp_path: Path) -> Path:
    path = tmp_path / "in.jsonl"
    documents = [*DOCUMENTS, {"id": "long", "text": LONG}]
    path.write_text("".join(json.dumps(document) + "\n" for document in documents))
    return path


def _batch_lines(source: Path, out: Path, model: str, *extra: str) -> list[dict[str, Any]]:
    result = runner.invoke(cli, ["batch", str(source), "-o", str(out), "--model", model, "--max-tokens", "6", *extra])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_docsum_batch(variant: tuple[str, Path], jsonl_input: Path, tmp_path: Path) -> None:
    lines = _batch_lines(jsonl_input, tmp_path / "out.jsonl", str(variant[1]))
    assert [line["id"] for line in lines] == ["short", "news", "long"]
    for line in lines:
        _check_summary(variant[0], line)


def test_ctranslate2_backend(variant: tuple[str, Path], jsonl_input: Path, tmp_path: Path) -> None:
    pytest.importorskip("ctranslate2")
    converted = tmp_path / "ct2"
    result = runner.invoke(cli, ["convert", str(variant[1]), str(converted)])
    assert result.exit_code == 0, result.output
    lines = _batch_lines(jsonl_input, tmp_path / "out.jsonl", f"ct2:{converted}")
    assert [line["id"] for line in lines] == ["short", "news", "long"]
    for line in lines:
        _check_summary(variant[0], line)


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")
@pytest.mark.usefixtures("local_ray")
def test_ray_engine(variant: tuple[str, Path], jsonl_input: Path, tmp_path: Path) -> None:
    lines = _batch_lines(jsonl_input, tmp_path / "out.jsonl", str(variant[1]), "--engine", "ray", "--workers", "1")
    assert [line["id"] for line in lines] == ["short", "news", "long"]
    for line in lines:
        _check_summary(variant[0], line)
