"""models.inputs.csv: a header with a text column, an optional id column, rows numbered as a spreadsheet shows them."""

from __future__ import annotations

import io

import pytest

from models.inputs import INVALID_LINE, InputError, Problem, Record
from models.inputs.csv import CSV


def read(text: str, *, ids_required: bool = True) -> list[Record | Problem]:
    return list(CSV.read(io.StringIO(text, newline=""), ids_required=ids_required))


def test_rows_are_documents_numbered_from_the_header() -> None:
    items = read('id,text,lang\na,First words.,en\nb,"Second, quoted.",fr\n')
    assert items == [
        Record(2, "a", "First words.", {"lang": "en"}),
        Record(3, "b", "Second, quoted.", {"lang": "fr"}),
    ]


def test_document_is_accepted_for_text_and_header_names_ignore_case_spaces_and_a_bom() -> None:
    items = read("\ufeff ID , Document \n7,Words.\n")
    assert items == [Record(2, "7", "Words.", {})]


def test_text_wins_over_document_which_stays_a_field() -> None:
    assert read("document,text\nD.,T.\n") == [Record(2, "row-2", "T.", {"document": "D."})]


def test_without_an_id_column_rows_are_named_by_number() -> None:
    items = read("text\nOne.\n\nTwo.\n")
    assert items == [Record(2, "row-2", "One.", {}), Record(4, "row-4", "Two.", {})]


def test_an_empty_id_is_a_bad_row_unless_ids_are_optional() -> None:
    assert read("id,text\n,Words.\n") == [Problem(2, None, INVALID_LINE, "row 2 has an empty `id`")]
    assert read("id,text\n,Words.\n", ids_required=False) == [Record(2, "row-2", "Words.", {})]


def test_a_quoted_cell_may_span_lines_and_counts_as_one_row() -> None:
    items = read('id,text\na,"Line one.\nLine two."\nb,Next.\n')
    assert items == [Record(2, "a", "Line one.\nLine two.", {}), Record(3, "b", "Next.", {})]


def test_bad_rows_are_problems_and_reading_goes_on() -> None:
    items = read('id,text\na,One.\nb\nc,"bad" quoting\nd,Two.,extra\ne,Three.\n')
    assert items == [
        Record(2, "a", "One.", {}),
        Problem(3, None, INVALID_LINE, "row 3 has 1 cells; the header has 2"),
        Problem(4, None, INVALID_LINE, "row 4 is not valid CSV: ',' expected after '\"'"),
        Problem(5, None, INVALID_LINE, "row 5 has 3 cells; the header has 2"),
        Record(6, "e", "Three.", {}),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,body\na,x\n", "the CSV header has no `text` (or `document`) column"),
        ("text,Text\nx,y\n", "the CSV header names the `text` column 2 times"),
        ('"id\n', "the CSV header (row 1) is not valid CSV: unexpected end of data"),
    ],
)
def test_a_file_without_a_usable_header_cannot_be_read(text: str, message: str) -> None:
    with pytest.raises(InputError) as raised:
        read(text)
    assert str(raised.value) == message
    assert CSV.count(io.StringIO(text)) == 0


def test_a_file_of_blank_lines_holds_no_records() -> None:
    assert read("") == [] and read("\n\n") == []


def test_a_cell_longer_than_the_csv_module_default_limit_is_read() -> None:
    long = "word " * 60_000  # 300 KB; the csv module refuses 128 KiB by default
    [item] = read(f"id,text\na,{long}\n")
    assert isinstance(item, Record) and item.text == long


def test_count_is_the_number_of_records_good_or_bad() -> None:
    assert CSV.count(io.StringIO("id,text\na,x\n\nb\nc,y\n")) == 3
