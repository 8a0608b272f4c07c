"""What an input format reads, and the protocol every format follows.

A format turns the lines of a text stream into records, in order: each is a
:class:`Record` (a document: its id, its text and the record's other fields) or a
:class:`Problem` (a line or row that is not one: where, its id if known, a code and a
message). A file a format cannot read at all (a CSV whose header names no text
column) raises :class:`InputError` instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

#: The code of a record a format cannot read (a JSONL line, a CSV row): ``invalid_line``
#: in ``docsum batch`` output and in a job's ``invalid_documents`` problems.
INVALID_LINE = "invalid_line"


@dataclass(frozen=True, slots=True)
class Record:
    """A document as read. ``number`` is where it is, in the format's unit (line, row), from 1;
    ``fields`` holds the record's other fields (``summary``, ``references``, ... for eval)."""

    number: int
    id: str
    text: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Problem:
    """A record that is not a document. ``id`` is None where the record names none that is valid;
    ``message`` names the record by its unit and number ("line 3 is not valid JSON: ...")."""

    number: int
    id: str | None
    code: str
    message: str


class InputError(ValueError):
    """A file a format cannot read at all, so no record of it is a document (a CSV header without a text column)."""


class InputFormat(Protocol):
    """One format of document collections: registered in :mod:`models.inputs.registry`.

    ``name`` is how it is named ("jsonl"), ``suffixes`` the file suffixes it claims (lower case,
    with the dot), ``unit`` what its record numbers count ("line", "row"; a record without an id
    is named ``{unit}-{number}``).
    """

    name: str
    suffixes: tuple[str, ...]
    unit: str

    def read(self, lines: Iterable[str], *, ids_required: bool = True) -> Iterator[Record | Problem]:
        """Every record of ``lines`` (a text stream), in order; blank ones are skipped but counted.

        With ``ids_required`` a record without an id is a problem, where the format has ids per
        record; otherwise it is named ``{unit}-{number}``. Raises :class:`InputError` (lazily,
        at the first record) for a stream this format cannot read at all.
        """
        ...

    def count(self, lines: Iterable[str]) -> int:
        """About how many records ``lines`` hold, for a progress bar; never raises for bad records."""
        ...


def fallback_id(unit: str, number: int) -> str:
    """The id of a record that has none: ``line-3``, ``row-2``."""
    return f"{unit}-{number}"
