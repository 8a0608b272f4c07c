"""PDF text through PDFium (pypdfium2): page by page, in PDFium's reading order, with a page map.

Chosen over pypdf by measurement (a 50-page text PDF: 72 ms against 329 ms on this machine's
CPU) and because PDFium is the engine Chrome ships: Apache-2.0/BSD-3, binary wheels, no other
dependency. Pages are joined by a blank line; each page's range is in ``pages``.
"""

from __future__ import annotations

import re

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from models.documents.builder import TextBuilder
from models.documents.errors import CorruptDocument, EncryptedDocument, NoTextLayer, TooManyPages
from models.documents.types import ExtractedDocument, ExtractLimits, PageSpan

# PDFium ends lines with CRLF and may leave NULs or a soft-hyphen marker (U+FFFE) in the text.
_CONTROL = re.compile(r"[\x00\ufffe\uffff]")
_LINE = re.compile(r"([^\r\n]*)(?:\r\n|\r|\n|$)")
# A line is a heading when its font is this much larger than the page's body text, and it is short.
_HEADING_RATIO = 1.25
_HEADING_MAX_CHARS = 200


def extract_pdf(data: bytes, limits: ExtractLimits) -> ExtractedDocument:
    document = _open(data)
    try:
        count = len(document)
        if count > limits.max_pages:
            raise TooManyPages(f"the PDF has {count} pages; the limit is {limits.max_pages}", param="file")
        builder = TextBuilder(limits.max_chars)
        pages = [_page(document, index, builder) for index in range(count)]
        title = (document.get_metadata_dict().get("Title") or "").strip() or None
    finally:
        document.close()
    text = builder.text()
    if count and not text.strip():
        raise NoTextLayer(
            f"the PDF's {count} page{'s' if count > 1 else ''} hold no text layer (a scan?); "
            "OCR is out of scope: run the file through an OCR tool first",
            param="file",
        )
    return ExtractedDocument(text, "pdf", title, tuple(pages), tuple(builder.blocks))


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        if getattr(exc, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise EncryptedDocument("the PDF is encrypted: it needs a password to open", param="file") from None
        raise CorruptDocument(f"the PDF cannot be read: {exc}", param="file") from None


def _page(document: pdfium.PdfDocument, index: int, builder: TextBuilder) -> PageSpan:
    page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            lines = _lines(textpage)
        finally:
            textpage.close()
    finally:
        page.close()
    start: int | None = None
    for kind, text in _blocks(lines):
        offset = builder.add(kind, text)
        start = offset if start is None else start
    if start is None:
        return PageSpan(index + 1, builder.size, 0)
    return PageSpan(index + 1, start, builder.size - start)


def _lines(textpage: pdfium.PdfTextPage) -> list[tuple[str, float]]:
    """The page's lines in PDFium's order, each with its font size (that of its first visible character)."""
    raw = textpage.get_text_range()
    lines = []
    for match in _LINE.finditer(raw):
        text = match.group(1)
        visible = next((at for at, char in enumerate(text) if not char.isspace()), None)
        if visible is None:
            lines.append(("", 0.0))
            continue
        # PDFium's text and its character indices agree one to one (line breaks included).
        size = pdfium_c.FPDFText_GetFontSize(textpage.raw, match.start(1) + visible)
        lines.append((_CONTROL.sub("", text).rstrip(), float(size)))
        if match.end() == len(raw):
            break
    return lines


def _blocks(lines: list[tuple[str, float]]) -> list[tuple[str, str]]:
    """Headings (a short line in a font clearly larger than the page's body text) apart, other lines together."""
    sizes = sorted(size for text, size in lines for _ in range(len(text)) if text)
    body = sizes[len(sizes) // 2] if sizes else 0.0
    blocks: list[tuple[str, str]] = []
    paragraph: list[str] = []
    for text, size in lines:
        if text and body and size >= _HEADING_RATIO * body and len(text) <= _HEADING_MAX_CHARS:
            if paragraph:
                blocks.append(("paragraph", "\n".join(paragraph)))
                paragraph = []
            blocks.append(("heading", text))
        elif text:
            paragraph.append(text)
    if paragraph:
        blocks.append(("paragraph", "\n".join(paragraph)))
    return blocks
