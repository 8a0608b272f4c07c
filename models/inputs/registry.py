"""The input formats, and which one reads a file.

A new format is a module in this package with a class that follows
:class:`~models.inputs.records.InputFormat` and one instance of it, and one line in
``FORMATS`` below (beside its import). ``docsum batch``, its Ray engine, job uploads
and ``docsum eval`` then read it from any file with one of its suffixes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path, PurePath

from models.inputs.csv import CSV
from models.inputs.jsonl import JSONL
from models.inputs.records import InputFormat, Problem, Record

#: Every format, the default first: a file whose suffix no format claims is read as JSONL.
FORMATS: tuple[InputFormat, ...] = (
    JSONL,
    CSV,
)


def formats() -> tuple[InputFormat, ...]:
    """The registered formats, the default (JSONL) first."""
    return FORMATS


def format_for(path_or_name: str | PurePath) -> InputFormat:
    """The format named so (a string: "jsonl", "csv"), else the one claiming the path's
    suffix (without case), else the default, JSONL."""
    if isinstance(path_or_name, str):
        for found in FORMATS:
            if found.name == path_or_name.lower():
                return found
    suffix = PurePath(path_or_name).suffix.lower()
    for found in FORMATS:
        if suffix in found.suffixes:
            return found
    return FORMATS[0]


def read_file(path: Path, fmt: InputFormat | None = None, *, ids_required: bool = True) -> Iterator[Record | Problem]:
    """The records of the UTF-8 file at ``path``, in the format given or :func:`format_for` it.
    Invalid UTF-8 raises ``UnicodeDecodeError`` where it is met."""
    fmt = fmt or format_for(path)
    with path.open(encoding="utf-8") as lines:
        yield from fmt.read(lines, ids_required=ids_required)


def count_file(path: Path, fmt: InputFormat | None = None) -> int:
    """About how many records the file at ``path`` holds (a progress bar's total); bad UTF-8 is not an error here."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        return (fmt or format_for(path)).count(lines)
