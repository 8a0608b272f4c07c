"""CSV with a header row: a ``text`` column (or ``document``), an optional ``id`` column, any others.

Rows are numbered as a spreadsheet shows them: the header is row 1 (blank rows count,
and a quoted cell may span lines). Without an ``id`` column every document is named
``row-N``; with one, an empty cell is a bad row (or ``row-N`` where ids are optional).
Column names are matched without case or surrounding spaces; the other columns are the
record's ``fields``, as strings. A row with another number of cells than the header,
or that is not valid CSV (``strict`` quoting), is a bad row; a header without a text
column, or naming one of ``id``, ``text``, ``document`` twice, makes the file unreadable
(:class:`InputError`); a file of blank lines holds no records, like an empty JSONL file.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from models.inputs.records import INVALID_LINE, InputError, Problem, Record, fallback_id

# The csv module refuses cells over 128 KiB by default; documents are longer. Raised, never lowered.
_FIELD_LIMIT = 2**31 - 1
_ROLES = ("id", "text", "document")


@dataclass(frozen=True, slots=True)
class _Header:
    names: list[str]
    text: int
    id: int | None


class CsvRows:
    """The :class:`~models.inputs.records.InputFormat` of ``.csv`` files."""

    name = "csv"
    suffixes: tuple[str, ...] = (".csv",)
    unit = "row"

    def read(self, lines: Iterable[str], *, ids_required: bool = True) -> Iterator[Record | Problem]:
        rows = _rows(lines)
        header = _header(rows)
        if header is None:
            return
        for number, row in rows:
            if isinstance(row, csv.Error):
                yield Problem(number, None, INVALID_LINE, f"row {number} is not valid CSV: {row}")
            elif row:
                yield _record(header, number, row, ids_required)

    def count(self, lines: Iterable[str]) -> int:
        try:
            return sum(1 for _ in self.read(lines))
        except InputError:
            return 0


def _rows(lines: Iterable[str]) -> Iterator[tuple[int, list[str] | csv.Error]]:
    """Every row with its number, or the error reading it; the reader goes on with the next line."""
    if csv.field_size_limit() < _FIELD_LIMIT:
        csv.field_size_limit(_FIELD_LIMIT)
    reader = csv.reader(lines, strict=True)
    number = 0
    while True:
        number += 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield number, exc
            continue
        yield number, row


def _header(rows: Iterator[tuple[int, list[str] | csv.Error]]) -> _Header | None:
    """The first row that is not blank, as a header with a text column; None for a file without one (no records)."""
    for number, row in rows:
        if isinstance(row, csv.Error):
            raise InputError(f"the CSV header (row {number}) is not valid CSV: {row}")
        if not row:
            continue
        names = [cell.strip().lstrip("\ufeff").strip().lower() for cell in row]
        for role in _ROLES:
            if names.count(role) > 1:
                raise InputError(f"the CSV header names the `{role}` column {names.count(role)} times")
        text = "text" if "text" in names else "document"
        if text not in names:
            raise InputError("the CSV header has no `text` (or `document`) column")
        return _Header(names, names.index(text), names.index("id") if "id" in names else None)
    return None


def _record(header: _Header, number: int, row: list[str], ids_required: bool) -> Record | Problem:
    if len(row) != len(header.names):
        message = f"row {number} has {len(row)} cells; the header has {len(header.names)}"
        return Problem(number, None, INVALID_LINE, message)
    doc_id = row[header.id] if header.id is not None else fallback_id(CSV.unit, number)
    if not doc_id:
        if ids_required:
            return Problem(number, None, INVALID_LINE, f"row {number} has an empty `id`")
        doc_id = fallback_id(CSV.unit, number)
    skip = {header.text, header.id}
    fields = {name: cell for at, (name, cell) in enumerate(zip(header.names, row, strict=True)) if at not in skip}
    return Record(number, doc_id, row[header.text], fields)


CSV = CsvRows()
