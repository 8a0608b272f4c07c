"""The CTranslate2 backend: `docsum convert`, `NAME=ct2:DIR` entries, and outputs equal to transformers'."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.catalog import ModelSpec, parse_model_entry, probe_source
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from service.app import create_app
from service.cli import app as cli
from service.settings import Settings
from tests.checkpoints import CORPUS

pytest.importorskip("ctranslate2")

from models.backends.ctranslate2 import CTranslate2Generator, load_ctranslate2
from service.cli_convert import convert_checkpoint

TEXTS = [*CORPUS[:6], " ".join(CORPUS)]  # the last one is cut to the window


@pytest.fixture(scope="module")
def converted(tiny_bart_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("ct2")
    return {
        quantization: convert_checkpoint(str(tiny_bart_dir), base / quantization, quantization=quantization)
        for quantization in ("float32", "int8")
    }


@pytest.mark.parametrize(
    "options",
    [
        SummaryOptions(num_beams=1),
        SummaryOptions(num_beams=1, max_tokens=9),
        SummaryOptions(max_tokens=7, min_tokens=7),
    ],
    ids=["defaults", "max", "exact"],
)
def test_float32_greedy_output_equals_transformers(
    tiny_bart_dir: Path, converted: dict[str, Path], options: SummaryOptions
) -> None:
    if options.num_beams is None:
        options = SummaryOptions(max_tokens=options.max_tokens, min_tokens=options.min_tokens, num_beams=1)
    reference = Seq2SeqSummarizer.load("hf", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    ct2 = load_ctranslate2("ct2", str(converted["float32"]), LoadSettings(dtype="float32"))
    assert ct2.max_input_tokens == reference.max_input_tokens
    assert ct2.summarize(TEXTS, options) == reference.summarize(TEXTS, options)


def test_int8_stays_close(tiny_bart_dir: Path, converted: dict[str, Path]) -> None:
    options = SummaryOptions(num_beams=1, max_tokens=10)
    reference = Seq2SeqSummarizer.load("hf", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    ct2 = load_ctranslate2("ct2", str(converted["int8"]), LoadSettings())
    expected, got = reference.summarize(TEXTS, options), ct2.summarize(TEXTS, options)
    assert [s.output_tokens for s in got] == [s.output_tokens for s in expected]
    assert [s.input_tokens for s in got] == [s.input_tokens for s in expected]
    assert sum(a.summary == b.summary for a, b in zip(got, expected, strict=True)) >= len(TEXTS) // 2


def test_the_pipeline_runs_a_ctranslate2_generator(converted: dict[str, Path]) -> None:
    ct2 = load_ctranslate2("ct2", str(converted["float32"]), LoadSettings(dtype="float32"))
    assert type(ct2) is Seq2SeqSummarizer and isinstance(ct2.generator, CTranslate2Generator)
    assert ct2.acceleration.engaged == ("ctranslate2",) and ct2.acceleration.accelerated


def test_beam_search_uses_the_checkpoint_defaults(converted: dict[str, Path]) -> None:
    ct2 = load_ctranslate2("ct2", str(converted["float32"]), LoadSettings(dtype="float32"))
    [summary] = ct2.summarize([CORPUS[0]], SummaryOptions())  # 2 beams, at most 19 new tokens
    assert summary.summary and 1 <= summary.output_tokens <= 19


def test_catalog_entries_name_the_backend(converted: dict[str, Path], tmp_path: Path) -> None:
    spec = parse_model_entry(f"fast=ct2:{converted['int8']}")
    assert spec == ModelSpec("fast", str(converted["int8"]), backend="ctranslate2")
    assert parse_model_entry("plain=org/model").backend == "transformers"
    assert probe_source(spec) is None
    missing = probe_source(parse_model_entry(f"gone=ct2:{tmp_path / 'nothing'}"))
    assert missing is not None and "no CTranslate2 model directory" in missing
    with pytest.raises(ValueError):
        parse_model_entry("empty=ct2:")


def test_served_through_the_same_api(converted: dict[str, Path]) -> None:
    settings = Settings(models=(f"fast=ct2:{converted['float32']}",), dtype="float32")
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/summarize", json={"text": CORPUS[3], "model": "fast", "max_tokens": 6})
        assert response.status_code == 200, response.text
        assert response.json()["model"] == "fast" and response.json()["usage"]["output_tokens"] == 6
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
        assert models["fast"]["available"] is True


def test_convert_command_and_batch_with_ct2(tiny_bart_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "converted"
    result = CliRunner().invoke(cli, ["convert", str(tiny_bart_dir), str(out), "--quantization", "float32"])
    assert result.exit_code == 0, result.output
    assert (out / "model.bin").is_file() and (out / "hf" / "generation_config.json").is_file()
    again = CliRunner().invoke(cli, ["convert", str(tiny_bart_dir), str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    bad = CliRunner().invoke(cli, ["convert", str(tiny_bart_dir), str(tmp_path / "x"), "--quantization", "int3"])
    assert bad.exit_code == 2

    source = tmp_path / "in.jsonl"
    source.write_text("".join(f'{{"id": "{i}", "text": "{text}"}}\n' for i, text in enumerate(CORPUS[:3])))
    target = tmp_path / "out.jsonl"
    ran = CliRunner().invoke(
        cli, ["batch", str(source), "-o", str(target), "--model", f"ct2:{out}", "--max-tokens", "5"]
    )
    assert ran.exit_code == 0, ran.output
    assert len(target.read_text().splitlines()) == 3
