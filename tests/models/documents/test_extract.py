"""models.documents: each kind's text and structure, the PDF page map, and the bad-file table."""

from __future__ import annotations

import pytest

from models.documents import (
    ArchiveTooLarge,
    CorruptDocument,
    DocumentFileError,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ExtractionTimeout,
    ExtractLimits,
    NoTextLayer,
    TooManyPages,
    UnsupportedFileType,
    extract,
    sniff,
)
from models.documents.bounded import BoundedExtractor
from tests.document_files import ARTICLE_HTML, MARKDOWN, make_docx, make_email, make_pdf, make_zip_bomb


def test_a_pdf_keeps_its_pages_in_order_with_a_page_map() -> None:
    document = extract(make_pdf(), None)
    assert document.kind == "pdf" and document.title == "Annual Report"
    # The heading (a larger font) is a block of its own; the page's other lines stay lines.
    assert document.text.startswith("Annual Report\n\nThe council approved the new bridge on Tuesday.\nIt will")
    assert document.blocks[0] == ("heading", 0, len("Annual Report"))
    first, second = document.pages or ()
    assert (first.page, second.page) == (1, 2)
    assert document.text[first.offset : first.offset + first.length].endswith("open in 2028.")
    assert document.text[second.offset : second.offset + second.length] == (
        "Critics wanted the money spent on schools instead.\nWork on the bridge starts in the spring."
    )
    assert document.text[first.offset + first.length : second.offset] == "\n\n"  # pages apart by a blank line
    assert document.pages_of(second.offset, 7) == [2]
    assert document.pages_of(first.offset + first.length - 3, 10) == [1, 2]


def test_a_docx_keeps_headings_lists_and_tables() -> None:
    document = extract(make_docx(), "memo.docx")
    assert document.kind == "docx" and document.title == "Quarterly Memo"
    assert document.text == (
        "Quarterly Memo\n\nSales rose in every region this quarter.\n\n- First item of the list\n"
        "- Second item of the list\n\nRegion | Sales\nNorth | 120\n\nThe board meets again in June."
    )
    assert [kind for kind, _, _ in document.blocks] == [
        "heading",
        "paragraph",
        "item",
        "item",
        "row",
        "row",
        "paragraph",
    ]


def test_html_gives_the_main_article_without_navigation_or_footer() -> None:
    document = extract(ARTICLE_HTML.encode(), None)
    assert document.kind == "html" and document.title == "Bridge vote"
    assert document.text.startswith("Council approves the bridge\n\nThe city council voted on Tuesday")
    assert "- Tenders open in January.\n- Work starts in the spring." in document.text
    for boilerplate in ("Home", "Sport", "subscribe", "Copyright", "Cookie"):
        assert boilerplate not in document.text


def test_an_email_gives_subject_body_and_text_attachments_only() -> None:
    document = extract(make_email(), None)
    assert document.kind == "email" and document.title == "Minutes of the bridge meeting"
    assert document.text.startswith("Minutes of the bridge meeting\n\nDear members,")
    assert "Attachment: notes.txt\n\nBudget notes: forty million dollars over three years." in document.text
    assert "map.png" not in document.text


def test_markdown_loses_its_markup_but_not_its_structure() -> None:
    document = extract(MARKDOWN.encode(), "notes.md")
    assert document.kind == "markdown"
    assert document.text == (
        "Release notes\n\nThe new version is faster and uses less memory.\n\n"
        "- Startup takes half the time.\n- Reports export to PDF.\n\nSee the docs for more."
    )


def test_plain_text_is_kept_as_sent_and_old_encodings_decode() -> None:
    assert extract(b"\xef\xbb\xbfOne line.\r\nTwo lines.", "a.txt").text == "One line.\nTwo lines."
    assert extract("Caf\u00e9 cr\u00e8me.".encode("cp1252"), None).text == "Caf\u00e9 cr\u00e8me."
    assert extract("Hi there.".encode("utf-16"), None).text == "Hi there."


def test_the_kind_is_read_from_the_content_not_the_name() -> None:
    assert sniff(make_pdf(), "report.txt") == "pdf"
    assert sniff(make_docx(), "upload.bin") == "docx"
    assert sniff(ARTICLE_HTML.encode(), "page.txt") == "html"
    assert sniff(make_email(), None) == "email"
    assert sniff(b"# Title\n\nText.", None) == "markdown"
    assert sniff(b"# Title\n\nText.", "notes.txt") == "text"  # the name breaks the tie


@pytest.mark.parametrize(
    ("data", "error", "words"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 32, UnsupportedFileType, "PNG image"),
        (b"\0\1\2\3binary", UnsupportedFileType, "binary"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 64, UnsupportedFileType, "old Office file"),
        (make_pdf(encrypt=True), EncryptedDocument, "encrypted"),
        (b"%PDF-1.4\nnot really a pdf", CorruptDocument, "cannot be read"),
        (make_pdf([[], []]), NoTextLayer, "OCR is out of scope"),
        (make_zip_bomb(), ArchiveTooLarge, "would unpack to"),
        (make_docx()[:500], CorruptDocument, "DOCX"),
        (b"   \n\n  ", EmptyDocument, "no text"),
    ],
)
def test_bad_files_raise_a_clear_error(data: bytes, error: type[DocumentFileError], words: str) -> None:
    with pytest.raises(error, match=words) as raised:
        extract(data, "upload.docx" if data.startswith(b"PK") else None)
    assert raised.value.param == "file"


def test_the_page_and_character_limits_stop_extraction() -> None:
    with pytest.raises(TooManyPages, match="3 pages; the limit is 2"):
        extract(make_pdf([[(12, "Page.")]] * 3), None, ExtractLimits(max_pages=2))
    with pytest.raises(DocumentTooLarge, match="more than 50 characters"):
        extract(make_docx(), None, ExtractLimits(max_chars=50))
    with pytest.raises(DocumentTooLarge, match="the limit is 5"):
        extract(b"Longer than five.", None, ExtractLimits(max_chars=5))


def test_the_bounded_extractor_gives_the_same_document_and_errors() -> None:
    extractor = BoundedExtractor(ExtractLimits(), timeout=60, memory_bytes=2048 * 1024 * 1024, workers=1)
    try:
        assert extractor.extract(make_pdf(), "r.pdf") == extract(make_pdf(), "r.pdf")
        with pytest.raises(EncryptedDocument):
            extractor.extract(make_pdf(encrypt=True), None)
        assert extractor.extract(b"Still works.", None).text == "Still works."  # the worker lives on
    finally:
        extractor.close()


def test_a_worker_past_the_time_limit_is_killed_and_replaced() -> None:
    extractor = BoundedExtractor(ExtractLimits(), timeout=0.001, memory_bytes=2048 * 1024 * 1024, workers=1)
    try:
        with pytest.raises(ExtractionTimeout, match=r"longer than 0\.001 s"):
            extractor.extract(make_pdf(), None)
        assert extractor._idle.get_nowait() is None  # the worker was killed, not kept
        extractor._idle.put(None)
        extractor.timeout = 60
        assert extractor.extract(b"Back to work.", None).text == "Back to work."  # a fresh worker
    finally:
        extractor.close()
