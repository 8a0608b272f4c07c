"""docsum submit without a server: what it refuses before it calls one (the rest: tests/service/client)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.cli import app
from service.cli_submit import _idempotency_key

runner = CliRunner()


def test_submit_needs_an_existing_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["submit", str(tmp_path / "none.jsonl"), "--url", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "no input file" in result.output


def test_submit_reads_the_key_from_the_variable_it_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n')
    monkeypatch.delenv("MY_DOCSUM_KEY", raising=False)
    args = ["submit", str(source), "--url", "http://127.0.0.1:9", "--api-key-env", "MY_DOCSUM_KEY"]
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "MY_DOCSUM_KEY is not set" in result.output


def test_the_idempotency_key_follows_the_file_and_the_options(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text('{"id": "a", "text": "x"}\n')
    key = _idempotency_key(source, None, {"sentences": 2}, None)
    assert key == _idempotency_key(source, None, {"sentences": 2}, None)
    assert key != _idempotency_key(source, None, {"sentences": 3}, None)
    assert key != _idempotency_key(source, "other", {"sentences": 2}, None)
    source.write_text('{"id": "a", "text": "y"}\n')
    assert key != _idempotency_key(source, None, {"sentences": 2}, None)
    assert len(key) <= 255  # the server's limit on Idempotency-Key
