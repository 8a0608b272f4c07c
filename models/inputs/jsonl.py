"""JSON lines, the default format: one object per line, ``{"id", "text"}`` (``document`` is accepted for ``text``).

Parsing is strict, like the service's HTTP bodies (``pydantic_core.from_json``): a lone
surrogate, deep nesting or a huge number makes a bad line, never a crash. Every key but
``id`` and the text's is kept in the record's ``fields``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import pydantic_core

from models.inputs.records import INVALID_LINE, Problem, Record, fallback_id


class JsonLines:
    """The :class:`~models.inputs.records.InputFormat` of ``.jsonl`` files."""

    name = "jsonl"
    suffixes: tuple[str, ...] = (".jsonl", ".ndjson")
    unit = "line"

    def read(self, lines: Iterable[str], *, ids_required: bool = True) -> Iterator[Record | Problem]:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield parse_line(line, number, ids_required=ids_required)

    def count(self, lines: Iterable[str]) -> int:
        return sum(1 for line in lines if line.strip())


def parse_line(line: str, number: int, *, ids_required: bool = True) -> Record | Problem:
    """Line ``number`` (from 1) as a record, or the problem it has."""
    try:
        record = pydantic_core.from_json(line)
    except ValueError as exc:
        return _bad(number, None, f"line {number} is not valid JSON: {exc}")
    if not isinstance(record, dict):
        return _bad(number, None, f"line {number} is not a JSON object")
    raw_id = record.get("id")
    if raw_id is None and not ids_required:
        doc_id = fallback_id(JSONL.unit, number)
    elif not isinstance(raw_id, str | int) or isinstance(raw_id, bool) or str(raw_id) == "":
        return _bad(number, None, f"line {number} has no string or integer `id`")
    else:
        doc_id = str(raw_id)
    key = "text" if "text" in record else "document"
    text = record.get(key)
    if not isinstance(text, str):
        return _bad(number, doc_id, f"line {number} has no string `text` (or `document`)")
    return Record(number, doc_id, text, {name: value for name, value in record.items() if name not in ("id", key)})


def _bad(number: int, doc_id: str | None, message: str) -> Problem:
    return Problem(number, doc_id, INVALID_LINE, message)


JSONL = JsonLines()
