"""models.inputs.jsonl: the docsum batch line format, strict, with the messages callers already see."""

from __future__ import annotations

import json

import pytest

from models.inputs import INVALID_LINE, Problem, Record
from models.inputs.jsonl import JSONL, parse_line


def read(*lines: str, ids_required: bool = True) -> list[Record | Problem]:
    return list(JSONL.read([line + "\n" for line in lines], ids_required=ids_required))


def test_documents_with_string_or_integer_ids_and_their_other_fields() -> None:
    items = read(
        json.dumps({"id": "a", "text": "First.", "lang": "en"}),
        json.dumps({"id": 7, "document": "Second."}),
    )
    assert items == [Record(1, "a", "First.", {"lang": "en"}), Record(2, "7", "Second.", {})]


def test_text_wins_over_document_and_document_stays_a_field() -> None:
    [item] = read(json.dumps({"id": "a", "text": "T.", "document": "D."}))
    assert item == Record(1, "a", "T.", {"document": "D."})


def test_blank_lines_are_skipped_but_counted() -> None:
    items = read("", "   ", json.dumps({"id": "a", "text": "x"}))
    assert [item.number for item in items] == [3]
    assert JSONL.count(["\n", json.dumps({"id": "a", "text": "x"}) + "\n", "  \n", "{bad\n"]) == 2


@pytest.mark.parametrize(
    ("line", "doc_id", "message"),
    [
        ('{"id": [1], "text": "x"}', None, "line 4 has no string or integer `id`"),
        ('{"id": true, "text": "x"}', None, "line 4 has no string or integer `id`"),
        ('{"id": "", "text": "x"}', None, "line 4 has no string or integer `id`"),
        ('{"text": "x"}', None, "line 4 has no string or integer `id`"),
        ('{"id": "a"}', "a", "line 4 has no string `text` (or `document`)"),
        ('{"id": 3, "text": null, "document": "d"}', "3", "line 4 has no string `text` (or `document`)"),
        ("[1, 2]", None, "line 4 is not a JSON object"),
    ],
)
def test_a_bad_line_is_a_problem_with_its_message(line: str, doc_id: str | None, message: str) -> None:
    assert parse_line(line, 4) == Problem(4, doc_id, INVALID_LINE, message)


@pytest.mark.parametrize(
    "line",
    [
        "{this is not json",
        "[" * 100_000 + "]" * 100_000,  # deep nesting
        '{"id": "s", "text": "x \\ud800"}',  # a lone surrogate
        '{"id": 1, "n": ' + "9" * 5000 + "}",  # a huge number
    ],
)
def test_what_strict_parsing_refuses_is_a_bad_line_not_a_crash(line: str) -> None:
    problem = parse_line(line, 2)
    assert isinstance(problem, Problem) and problem.code == INVALID_LINE
    assert problem.message.startswith("line 2 is not valid JSON: ")
    assert problem.id is None


def test_without_required_ids_a_line_without_one_is_numbered() -> None:
    items = read(
        json.dumps({"document": "D.", "summary": "S."}),
        json.dumps({"id": None, "text": "T."}),
        json.dumps({"id": [1], "text": "T."}),
        ids_required=False,
    )
    assert items[0] == Record(1, "line-1", "D.", {"summary": "S."})
    assert items[1] == Record(2, "line-2", "T.", {})
    assert isinstance(items[2], Problem) and items[2].message == "line 3 has no string or integer `id`"


def test_a_line_without_text_names_the_numbered_id_when_ids_are_optional() -> None:
    assert parse_line('{"summary": "s"}', 5, ids_required=False) == Problem(
        5, "line-5", INVALID_LINE, "line 5 has no string `text` (or `document`)"
    )
