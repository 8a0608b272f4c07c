"""Grounding on every path: POST /v1/ground, the `grounding` option of summaries (single, batch, stream,
jobs), and the CLI (`docsum ground`, `summarize --json`, `batch`, `eval --judgments`)."""

from __future__ import annotations

import json
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

runner = CliRunner()
SUMMARY = "The council voted to build a bridge costing 45 million dollars. Mayor John Smith praised it."


@pytest.fixture(scope="module")
def client(tiny_bart_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = Settings(models=(f"tiny={tiny_bart_dir}",), dtype="float32", data_dir=tmp_path_factory.mktemp("data"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _check_grounding(source: str, summary: str, grounding: dict[str, Any]) -> None:
    """Every range is exact: sentences and flags in the summary, evidence in the source."""
    assert 0.0 <= grounding["consistency"] <= 1.0
    for sentence in grounding["sentences"]:
        assert summary[sentence["offset"] : sentence["offset"] + sentence["length"]] == sentence["text"]
        assert 0.0 <= sentence["supported"] <= 1.0
        for evidence in sentence["support"]:
            assert source[evidence["offset"] : evidence["offset"] + evidence["length"]].strip()
        for span in sentence["unsupported"]:
            assert summary[span["offset"] : span["offset"] + span["length"]] == span["text"]


def test_ground_checks_a_summary_written_elsewhere(client: TestClient) -> None:
    response = client.post("/v1/ground", json={"text": NEWS_ARTICLE, "summary": SUMMARY})
    assert response.status_code == 200, response.text
    body = response.json()
    _check_grounding(NEWS_ARTICLE, SUMMARY, body)
    flagged = {span["text"] for sentence in body["sentences"] for span in sentence["unsupported"]}
    assert {"45 million", "John Smith"} <= flagged  # the article has a mayor, not this one
    first = NEWS_ARTICLE.split(". ")[0] + "."
    copied = client.post("/v1/ground", json={"text": NEWS_ARTICLE, "summary": first}).json()
    assert copied["sentences"][0]["unsupported"] == [] and copied["consistency"] > 0.9
    assert copied["sentences"][0]["support"][0]["offset"] == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"text": "  ", "summary": "x"}, 422, "empty_document"),
        ({"text": "a" * 2_000_001, "summary": "x"}, 413, "document_too_large"),
        ({"text": "source", "summary": 3}, 422, "invalid_request"),
        ({"text": "source"}, 422, "invalid_request"),
    ],
)
def test_ground_refuses_bad_input_in_the_envelope(
    client: TestClient, body: dict[str, Any], status: int, code: str
) -> None:
    response = client.post("/v1/ground", json=body)
    assert response.status_code == status and response.json()["error"]["code"] == code


def test_summaries_a_model_writes_carry_their_grounding(client: TestClient) -> None:
    body = client.post("/v1/summarize", json={"text": NEWS_ARTICLE, "model": "tiny", "max_tokens": 8}).json()
    _check_grounding(NEWS_ARTICLE, body["summary"], body["grounding"])
    off = client.post("/v1/summarize", json={"text": NEWS_ARTICLE, "model": "tiny", "grounding": False}).json()
    assert off["grounding"] is None
    extractive = client.post("/v1/summarize", json={"text": NEWS_ARTICLE}).json()
    assert extractive["grounding"] is None and extractive["sentences"]  # copied sentences carry their offsets
    long_text = " ".join([NEWS_ARTICLE] * 3)
    chunked = client.post("/v1/summarize", json={"text": long_text, "model": "tiny", "max_tokens": 8}).json()
    assert chunked["reduce_rounds"] >= 1
    _check_grounding(long_text, chunked["summary"], chunked["grounding"])


def test_batch_stream_and_jobs_carry_grounding(client: TestClient) -> None:
    documents = [{"id": "a", "text": NEWS_ARTICLE}, {"id": "b", "text": "A short note about the weather."}]
    batch = client.post("/v1/summarize/batch", json={"documents": documents, "model": "tiny", "max_tokens": 6})
    for item, document in zip(batch.json()["results"], documents, strict=True):
        _check_grounding(document["text"], item["summary"], item["grounding"])
    streamed = events(
        client.post("/v1/summarize", json={"text": NEWS_ARTICLE, "model": "tiny", "max_tokens": 6, "stream": True})
    )
    assert streamed[-1][0] == "summary" and streamed[-1][1]["grounding"] is not None
    job = client.post("/v1/jobs", json={"documents": documents, "model": "tiny", "max_tokens": 6}).json()
    assert wait_for(client, job["id"], timeout=60)["status"] == "succeeded"
    for line, document in zip(result_lines(client, job["id"]), documents, strict=True):
        _check_grounding(document["text"], line["summary"], line["grounding"])
    quiet = client.post(
        "/v1/jobs", json={"documents": documents, "model": "tiny", "max_tokens": 6, "grounding": False}
    ).json()
    wait_for(client, quiet["id"], timeout=60)
    assert all(line["grounding"] is None for line in result_lines(client, quiet["id"]))


def test_docsum_ground_prints_a_report_and_json(tmp_path: Path) -> None:
    (tmp_path / "source.txt").write_text(NEWS_ARTICLE)
    (tmp_path / "summary.txt").write_text(SUMMARY)
    report = runner.invoke(cli, ["ground", str(tmp_path / "source.txt"), str(tmp_path / "summary.txt")])
    assert report.exit_code == 0, report.output
    assert report.output.startswith("consistency ") and "'John Smith' (name)" in report.output
    as_json = runner.invoke(cli, ["ground", str(tmp_path / "source.txt"), str(tmp_path / "summary.txt"), "--json"])
    _check_grounding(NEWS_ARTICLE, SUMMARY, json.loads(as_json.stdout))
    empty = runner.invoke(cli, ["ground", str(tmp_path / "summary.txt"), "-"], input="")
    assert empty.exit_code == 0  # an empty summary: nothing to check
    blank = tmp_path / "blank.txt"
    blank.write_text(" \n")
    refused = runner.invoke(cli, ["ground", str(blank), str(tmp_path / "summary.txt")])
    assert refused.exit_code == 2 and "no text" in refused.output


def test_cli_summaries_carry_grounding_unless_turned_off(tiny_bart_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "doc.txt").write_text(NEWS_ARTICLE)
    args = ["summarize", str(tmp_path / "doc.txt"), "-m", str(tiny_bart_dir), "--max-tokens", "6", "--json"]
    body = json.loads(runner.invoke(cli, args).stdout)
    _check_grounding(NEWS_ARTICLE, body["summary"], body["grounding"])
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": NEWS_ARTICLE}) + "\n")
    for flag, expected in (("--grounding", True), ("--no-grounding", False)):
        out = tmp_path / f"out{flag}.jsonl"
        batch = ["batch", str(source), "-o", str(out), "-m", str(tiny_bart_dir), "--max-tokens", "6", flag]
        assert runner.invoke(cli, batch).exit_code == 0
        [line] = [json.loads(row) for row in out.read_text().splitlines()]
        assert (line["grounding"] is not None) is expected


def test_eval_judgments_prints_the_correlations(tmp_path: Path) -> None:
    lines = [
        {"document": NEWS_ARTICLE, "summary": NEWS_ARTICLE.split(". ")[0] + ".", "consistency": 1.0},
        {"document": NEWS_ARTICLE, "summary": "The bridge will cost 40 million dollars.", "consistency": 1.0},
        {"document": NEWS_ARTICLE, "summary": "Mayor John Smith cancelled the bridge in 1999.", "consistency": 0.0},
        {"document": NEWS_ARTICLE, "summary": "The ferry sank and 300 people died.", "consistency": 0.0},
    ]
    data = tmp_path / "judgments.jsonl"
    data.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = runner.invoke(cli, ["eval", "--judgments", str(data), "--json"])
    assert result.exit_code == 0, result.output
    last = json.loads(result.stdout.strip().splitlines()[-1])
    assert last["score"] == "grounding" and last["n"] == 4 and last["pearson"] > 0.5 and last["spearman"] > 0.5
    table = runner.invoke(cli, ["eval", "--judgments", str(data)])
    assert "trigram coverage" in table.output and "grounding" in table.output
    data.write_text('{"document": "x"}\n')
    assert runner.invoke(cli, ["eval", "--judgments", str(data)]).exit_code == 2
