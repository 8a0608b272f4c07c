"""service.auth.keys and `docsum keys new`: keys stored as hashes only, looked up by hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from service.auth.keys import KeyFileError, KeyRing, hash_key, key_line, new_key
from service.cli import app


def test_a_key_is_found_by_its_hash_and_only_the_hash_is_kept() -> None:
    key = new_key()
    ring = KeyRing.parse(f"# team keys\n\nteam-a:{hash_key(key)}\nteam-b:{'0' * 64}\n")
    assert ring.find(key) == "team-a"
    assert ring.find(key + "x") is None
    assert ring.find("") is None
    assert key not in repr(ring)
    assert hash_key(key) == hashlib.sha256(key.encode()).hexdigest()


def test_new_keys_are_long_random_and_distinct() -> None:
    keys = {new_key() for _ in range(100)}
    assert len(keys) == 100
    assert all(key.startswith("dsk_") and len(key) >= 40 for key in keys)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("team-a:abc\n", "line 1: expected NAME:SHA256-HEX"),
        ("dsk_secretkeypastedbymistake\n", "line 1: expected NAME:SHA256-HEX"),
        (f"ok:{'a' * 64}\nbad name:{'b' * 64}\n", "line 2"),
        (f"x:{'a' * 64}\nx:{'b' * 64}\n", "used twice"),
        ("# nothing\n", "has no keys"),
    ],
)
def test_a_bad_key_file_is_refused_without_echoing_its_lines(text: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message) as caught:
        KeyRing.parse(text)
    assert "secretkey" not in str(caught.value)


def test_a_missing_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read"):
        KeyRing.load(tmp_path / "nope.txt")


def test_docsum_keys_new_prints_the_key_once_and_its_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["keys", "new", "team-a"])
    assert result.exit_code == 0, result.output
    key, line = result.stdout.split()
    assert line == key_line("team-a", key)
    assert key not in line
    (tmp_path / "keys").write_text(line + "\n")
    assert KeyRing.load(tmp_path / "keys").find(key) == "team-a"


def test_docsum_keys_new_refuses_a_bad_name() -> None:
    result = CliRunner().invoke(app, ["keys", "new", "no spaces"])
    assert result.exit_code == 2
    assert "name" in result.stderr


def test_a_key_line_may_set_the_keys_own_limits() -> None:
    ring = KeyRing.parse(f"big:{'a' * 64}:requests_per_second=50, documents_per_day=0\nsmall:{'b' * 64}\n")
    assert ring.limits == {"big": {"requests_per_second": 50, "documents_per_day": 0}}
    for bad in ("speed=5", "requests_per_second=-1", "requests_per_second"):
        with pytest.raises(KeyFileError, match="LIMIT=N"):
            KeyRing.parse(f"big:{'a' * 64}:{bad}\n")
