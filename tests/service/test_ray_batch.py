"""``docsum batch --engine ray`` writes, byte for byte, what the local engine writes."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()

# Creating Ray Data's DataContext sets some of its own deprecated fields, which warns
# (Ray 2.60, ray/data/context.py) before any code of ours runs; nothing to fix on our side.
# Starts a Ray cluster.
pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.data.context")]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """One small local Ray for the module; the CLI uses a session this process already has.
    Its workers start before any test sets DOCSUM_*: they see the settings only as the
    driver passes them. Worker logs stay in Ray's log files (the CLI runner closes its
    captured streams after each command)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    yield
    ray.shutdown()


@pytest.fixture
def tiny_model(monkeypatch: pytest.MonkeyPatch, tiny_bart_dir: Path) -> str:
    monkeypatch.setenv("DOCSUM_MODELS", f"tiny={tiny_bart_dir}")
    monkeypatch.setenv("DOCSUM_DTYPE", "float32")
    return "tiny"


@pytest.fixture
def source(tmp_path: Path) -> Path:
    sentences = [
        "The council approved the new bridge on Tuesday.",
        "Work starts in spring and ends in three years.",
        "Critics wanted the money spent on schools.",
        "The ferry keeps running until the bridge opens.",
    ]
    lines = [json.dumps({"id": f"doc-{i}", "text": " ".join(sentences[: 1 + i % 4]) * (1 + i)}) for i in range(8)]
    lines.insert(3, "{this is not json")
    lines.insert(6, json.dumps({"id": "empty", "document": "   "}))
    lines.insert(8, "")  # blank lines are skipped, as by the local engine
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


ARGS = ["--max-tokens", "6", "--num-beams", "1", "--batch-size", "1"]


def batch(source: Path, out: Path, model: str, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, ["batch", str(source), "-o", str(out), "--model", model, *ARGS, *extra])
    return result.exit_code, result.output


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_writes_what_the_local_engine_writes(source: Path, tmp_path: Path, tiny_model: str) -> None:
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    assert batch(source, local, tiny_model)[0] == 1  # the invalid and the empty line fail
    code, output = batch(source, on_ray, tiny_model, "--engine", "ray", "--workers", "2")
    assert code == 1, output
    assert "10 written, 2 failed, 0 already done" in output
    assert on_ray.read_text().splitlines() == local.read_text().splitlines()
    rows = [json.loads(line) for line in on_ray.read_text().splitlines()]
    ids = ["doc-0", "doc-1", "doc-2", "line-4", "doc-3", "doc-4", "empty", "doc-5", "doc-6", "doc-7"]
    assert [row["id"] for row in rows] == ids
    assert [row["error"]["code"] for row in rows if "error" in row] == ["invalid_line", "empty_document"]
    # The workers resolved "tiny" from the driver's settings: their own environment has no DOCSUM_MODELS.
    assert {row["model"] for row in rows if "error" not in row} == {"tiny"}


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_takes_an_instruct_model_sampling_as_locally(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_qwen2_dir: Path
) -> None:
    """The tiny Qwen2 as ``instruct:DIR``; seeded sampling draws the same in the Ray workers' processes."""
    monkeypatch.setenv("DOCSUM_MODELS", f"qwen=instruct:{tiny_qwen2_dir}")
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    flags = ("--temperature", "1.2", "--seed", "4", "--language", "fr")
    assert batch(source, local, "qwen", *flags)[0] == 1
    code, output = batch(source, on_ray, "qwen", *flags, "--engine", "ray", "--workers", "2")
    assert code == 1, output
    assert on_ray.read_text().splitlines() == local.read_text().splitlines()
    rows = [row for row in map(json.loads, on_ray.read_text().splitlines()) if "error" not in row]
    assert len(rows) == 8 and {row["model"] for row in rows} == {"qwen"} and all(row["summary"] for row in rows)


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_resumes_after_a_torn_line(source: Path, tmp_path: Path, tiny_model: str) -> None:
    local, on_ray = tmp_path / "local.jsonl", tmp_path / "ray.jsonl"
    batch(source, local, tiny_model)
    complete = local.read_text().splitlines(keepends=True)
    on_ray.write_text("".join(complete[:5]) + complete[5][:20])  # killed while writing its sixth line
    code, output = batch(source, on_ray, tiny_model, "--engine", "ray", "--workers", "2", "--resume")
    assert code == 1, output  # the empty document, still to do, fails again
    assert "5 written, 1 failed, 5 already done" in output
    assert on_ray.read_text() == local.read_text()


@pytest.mark.usefixtures("local_ray")
def test_ray_engine_stops_on_options_the_model_refuses(source: Path, tmp_path: Path, tiny_model: str) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("an earlier run's output\n")
    # --force: a non-empty OUT is otherwise refused before anything starts.
    code, output = batch(source, out, tiny_model, "--engine", "ray", "--sentences", "2", "--force")
    assert code == 2
    assert "docsum: `sentences` is for extractive models" in output
    assert out.read_text() == "an earlier run's output\n"  # nothing was written, nothing was lost


def test_ray_engine_without_ray_says_how_to_install_it(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ray", "ray.data"):
        monkeypatch.setitem(sys.modules, name, None)  # import ray.data now fails, as where it is not installed
    result = runner.invoke(app, ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", "ray"])
    assert result.exit_code == 2
    assert "pip install 'docsum[ray]'" in result.output and "Traceback" not in result.output


def test_ray_options_need_the_ray_engine(source: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--workers", "2"])
    assert result.exit_code == 2 and "need --engine ray" in result.output
    engine = runner.invoke(app, ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "--engine", "spark"])
    assert engine.exit_code == 2 and "--engine must be local or ray" in engine.output
