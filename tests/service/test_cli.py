from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app

runner = CliRunner()


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def batch_input(tmp_path: Path, news_article: str) -> Path:
    lines = [
        json.dumps({"id": "first", "text": news_article}),
        "{this is not json",
        json.dumps({"id": 7, "document": "A short note. It has two sentences."}),
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "last", "text": "Final words here. And more after."}),
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_batch_writes_every_line_in_order_and_exits_1_on_failures(batch_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["batch", str(batch_input), "-o", str(out), "--sentences", "1"])
    assert result.exit_code == 1, result.output
    rows = read_jsonl(out)
    assert [row["id"] for row in rows] == ["first", "line-2", "7", "no-text", "last"]
    assert rows[1]["error"]["code"] == "invalid_line"  # type: ignore[index]
    assert rows[3]["error"]["code"] == "invalid_line"  # type: ignore[index]
    assert rows[2]["summary"] == "A short note."
    assert rows[0]["model"] == "extractive" and len(rows[0]["sentences"]) == 1  # type: ignore[arg-type]


def test_resume_skips_done_ids_and_drops_a_torn_line(batch_input: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    runner.invoke(app, ["batch", str(batch_input), "-o", str(out)])
    complete = out.read_text().splitlines(keepends=True)
    # A run killed while writing its third line.
    out.write_text("".join(complete[:2]) + complete[2][:15])
    result = runner.invoke(app, ["batch", str(batch_input), "-o", str(out), "--resume"])
    rows = read_jsonl(out)
    assert [row["id"] for row in rows] == ["first", "line-2", "7", "no-text", "last"]
    assert rows == [json.loads(line) for line in complete]
    assert "3 written" in result.output and "2 already done" in result.output


def test_batch_with_all_good_lines_exits_0(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"id": "a", "text": "One sentence. Two sentences."}) + "\n")
    result = runner.invoke(app, ["batch", str(source), "-o", str(tmp_path / "out.jsonl")])
    assert result.exit_code == 0, result.output


def test_batch_with_a_local_seq2seq_checkpoint(tmp_path: Path, tiny_bart_dir: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps({"id": str(i), "text": f"Document number {i} is here."}) + "\n" for i in range(5))
    )
    out = tmp_path / "out.jsonl"
    result = runner.invoke(
        app,
        ["batch", str(source), "-o", str(out), "--model", str(tiny_bart_dir), "--max-tokens", "6", "--batch-size", "2"],
    )
    assert result.exit_code == 0, result.output
    rows = read_jsonl(out)
    assert [row["id"] for row in rows] == ["0", "1", "2", "3", "4"]
    assert all(row["summary"] and row["usage"]["output_tokens"] > 0 for row in rows)  # type: ignore[index]


def test_summarize_prints_the_summary(tmp_path: Path, news_article: str) -> None:
    path = tmp_path / "article.txt"
    path.write_text(news_article)
    result = runner.invoke(app, ["summarize", str(path), "--sentences", "2", "--format", "bullets"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("- ") for line in lines)


def test_summarize_reads_stdin_and_prints_json(news_article: str) -> None:
    result = runner.invoke(app, ["summarize", "-", "--json", "--query", "ferry service"], input=news_article)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert any("ferry" in sentence["text"] for sentence in body["sentences"])


def test_summarize_reports_bad_options_and_models_clearly(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("Some text.")
    beams = runner.invoke(app, ["summarize", str(path), "--num-beams", "2"])
    assert beams.exit_code == 2 and "num_beams" in beams.output
    missing = runner.invoke(app, ["summarize", str(path), "--model", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "no checkpoint directory" in missing.output


def test_models_lists_the_catalog_with_availability(monkeypatch: pytest.MonkeyPatch, tiny_bart_dir: Path) -> None:
    monkeypatch.setenv("DOCSUM_MODELS", f"tiny={tiny_bart_dir}")
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    lines = {line.split()[0]: line for line in result.output.splitlines()}
    assert "available" in lines["tiny"] and "unavailable" not in lines["tiny"]
    assert "unavailable" in lines["bart-large-cnn"]
    assert "(default)" in lines["extractive"]


def test_eval_scores_the_model_beside_lead3(tmp_path: Path, news_article: str) -> None:
    data = tmp_path / "eval.jsonl"
    rows = [
        {"id": "1", "document": news_article, "summary": "The council voted to build a new bridge across the river."},
        {
            "id": "2",
            "text": news_article,
            "summary": "x",
            "references": ["A bridge will be built.", "Council votes for bridge."],
        },
    ]
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    table = runner.invoke(app, ["eval", str(data)])
    assert table.exit_code == 0, table.output
    assert "lead-3" in table.output and "extractive" in table.output
    report = json.loads(runner.invoke(app, ["eval", str(data), "--json", "--sentences", "2"]).output)
    assert report["n"] == 2 and report["failures"] == 0
    assert json.dumps(report).count("rouge1") >= 2


def test_eval_refuses_a_malformed_file(tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"id": "1", "document": "x", "summary": "y"}\nnot json\n')
    result = runner.invoke(app, ["eval", str(data)])
    assert result.exit_code == 2 and "2" in result.output


def test_summarize_stream_prints_progress_and_text(tiny_bart_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    path.write_text("The council approved the bridge after a long debate. " * 40)
    result = runner.invoke(
        app,
        ["summarize", str(path), "--model", str(tiny_bart_dir), "--stream", "--num-beams", "1", "--max-tokens", "8"],
    )
    assert result.exit_code == 0, result.output
    assert "map: chunk 1/" in result.output
    error = runner.invoke(app, ["summarize", str(path), "--model", str(tiny_bart_dir), "--truncation", "error"])
    assert error.exit_code == 2 and "tokens" in error.output


def test_batch_refuses_to_overwrite_a_non_empty_output_without_resume_or_force(
    batch_input: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "precious", "summary": "hours of work"}\n')
    refused = runner.invoke(app, ["batch", str(batch_input), "-o", str(out)])
    assert refused.exit_code == 2
    assert "--resume" in refused.output and "--force" in refused.output
    assert out.read_text() == '{"id": "precious", "summary": "hours of work"}\n'
    both = runner.invoke(app, ["batch", str(batch_input), "-o", str(out), "--resume", "--force"])
    assert both.exit_code == 2 and out.read_text().startswith('{"id": "precious"')
    forced = runner.invoke(app, ["batch", str(batch_input), "-o", str(out), "-f"])
    assert forced.exit_code == 1, forced.output  # two bad lines, as in the first test
    assert [row["id"] for row in read_jsonl(out)] == ["first", "line-2", "7", "no-text", "last"]
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    assert runner.invoke(app, ["batch", str(batch_input), "-o", str(empty)]).exit_code == 1


def test_version_is_the_package_version() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"docsum {pyproject['project']['version']}"


def test_a_bad_jsonl_line_of_any_shape_is_an_error_line_not_a_crash(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    lines = ["[" * 100_000 + "]" * 100_000, '{"id": "s", "text": "x \\ud800"}', '{"id": 1, "n": ' + "9" * 5000 + "}"]
    source.write_text("\n".join([*lines, json.dumps({"id": "ok", "text": "Fine. Words."})]) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["batch", str(source), "-o", str(out)])
    assert result.exit_code == 1, result.output
    rows = read_jsonl(out)
    assert [row.get("error", {}).get("code") for row in rows] == ["invalid_line"] * 3 + [None]  # type: ignore[attr-defined]


def test_batch_reads_a_csv_file_by_its_suffix(tmp_path: Path, news_article: str) -> None:
    source = tmp_path / "in.csv"
    quoted = news_article.replace('"', '""')
    source.write_text(f'id,text\nfirst,"{quoted}"\nbroken\n,No id. Here.\nlast,Final words here. And more after.\n')
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["batch", str(source), "-o", str(out), "--sentences", "1"])
    assert result.exit_code == 1, result.output
    rows = read_jsonl(out)
    assert [row["id"] for row in rows] == ["first", "row-3", "row-4", "last"]
    assert [row.get("error", {}).get("message") for row in rows] == [  # type: ignore[attr-defined]
        None,
        "row 3 has 1 cells; the header has 2",
        "row 4 has an empty `id`",
        None,
    ]
    assert rows[3]["summary"] == "Final words here."


def test_batch_refuses_a_csv_file_without_a_text_column_and_leaves_out_alone(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,body\na,Some words.\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["batch", str(source), "-o", str(out)])
    assert result.exit_code == 2
    assert "the CSV header has no `text` (or `document`) column" in result.output
    assert not out.exists()


def test_serve_sends_no_server_header(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    from service.lifecycle import DrainingServer

    configs: list[uvicorn.Config] = []
    # uvicorn's logging would write to the runner's captured stderr long after it is closed.
    monkeypatch.setattr(uvicorn.Config, "configure_logging", lambda self: None)
    monkeypatch.setattr(DrainingServer, "run", lambda self, sockets=None: configs.append(self.config))
    result = runner.invoke(app, ["serve", "--port", "8123"])
    assert result.exit_code == 0, result.output
    [config] = configs
    assert config.server_header is False


def test_serve_refuses_the_network_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    result = runner.invoke(app, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0 without API keys" in result.stderr
    assert "DOCSUM_API_KEYS_FILE" in result.stderr
