"""models.inputs.registry: which format reads a file, and that a new format is one more entry."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePath

import pytest

from models.inputs import INVALID_LINE, Problem, Record, count_file, format_for, formats, read_file, registry
from models.inputs.csv import CSV
from models.inputs.jsonl import JSONL


def test_jsonl_is_the_default_and_csv_is_registered() -> None:
    assert [fmt.name for fmt in formats()] == ["jsonl", "csv"]
    assert formats()[0] is JSONL


def test_names_units_and_suffixes_are_distinct_and_well_formed() -> None:
    names = [fmt.name for fmt in formats()]
    suffixes = [suffix for fmt in formats() for suffix in fmt.suffixes]
    assert len(set(names)) == len(names) and len(set(suffixes)) == len(suffixes)
    assert all(s.startswith(".") and s == s.lower() for s in suffixes)
    assert all(fmt.unit for fmt in formats())


@pytest.mark.parametrize(
    ("path_or_name", "expected"),
    [
        ("jsonl", JSONL),
        ("CSV", CSV),
        ("in.csv", CSV),
        (Path("/data/IN.CSV"), CSV),
        (PurePath("docs.jsonl"), JSONL),
        ("docs.ndjson", JSONL),
        ("docs.txt", JSONL),  # unclaimed suffixes are the default
        (Path("csv"), JSONL),  # a path is never a name
        ("", JSONL),
    ],
)
def test_format_for_a_name_or_a_path(path_or_name: str | PurePath, expected: object) -> None:
    assert format_for(path_or_name) is expected


def test_read_file_and_count_file_follow_the_suffix(tmp_path: Path) -> None:
    jsonl = tmp_path / "in.jsonl"
    jsonl.write_text(json.dumps({"id": "a", "text": "x"}) + "\n{bad\n", encoding="utf-8")
    table = tmp_path / "in.csv"
    table.write_text("id,text\nb,y\n", encoding="utf-8")
    first, second = read_file(jsonl)
    assert first == Record(1, "a", "x", {})
    assert isinstance(second, Problem) and second.code == INVALID_LINE
    assert list(read_file(table)) == [Record(2, "b", "y", {})]
    [as_jsonl, _] = read_file(table, JSONL)
    assert isinstance(as_jsonl, Problem) and as_jsonl.message.startswith("line 1 is not valid JSON")
    assert count_file(jsonl) == 2 and count_file(table) == 1


def test_count_file_does_not_fail_on_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"id": "a", "text": "\xff"}\n')
    assert count_file(path) == 1


class Lines:
    """A third format, as a newcomer would add one: every non-blank line is a document."""

    name = "lines"
    suffixes: tuple[str, ...] = (".txt",)
    unit = "line"

    def read(self, lines: Iterable[str], *, ids_required: bool = True) -> Iterator[Record | Problem]:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield Record(number, f"line-{number}", line.strip())

    def count(self, lines: Iterable[str]) -> int:
        return sum(1 for line in lines if line.strip())


def test_a_new_format_is_one_more_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "FORMATS", (*registry.FORMATS, Lines()))
    path = tmp_path / "notes.txt"
    path.write_text("First note.\n\nSecond note.\n", encoding="utf-8")
    assert format_for(path).name == "lines" and format_for("lines").name == "lines"
    assert [r.id for r in read_file(path) if isinstance(r, Record)] == ["line-1", "line-3"]
