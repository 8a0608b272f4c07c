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
_LINE_ENDS = re.compile(r"\r\n?")


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
            raw = textpage.get_text_range()
        finally:
            textpage.close()
    finally:
        page.close()
    lines = [line.rstrip() for line in _LINE_ENDS.split(_CONTROL.sub("", raw))]
    offset = builder.add("page", "\n".join(lines))
    if offset is None:
        return PageSpan(index + 1, builder.size, 0)
    return PageSpan(index + 1, offset, builder.size - offset)
