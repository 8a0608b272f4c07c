"""One entry point: bytes (and a file name, for ties) in, an ``ExtractedDocument`` out, or a
``DocumentFileError`` that says why not. Runs in the calling thread; ``bounded`` runs it in a
process it can kill."""

from __future__ import annotations

import zipfile

from models.documents.builder import TextBuilder
from models.documents.errors import CorruptDocument, DocumentFileError, DocumentTooLarge, EmptyDocument
from models.documents.mail import add_email
from models.documents.markup import add_markdown
from models.documents.pdf import extract_pdf
from models.documents.sniff import decode_text, sniff
from models.documents.types import DocumentKind, ExtractedDocument, ExtractLimits
from models.documents.web import add_html
from models.documents.word import extract_docx


def extract(data: bytes, name: str | None = None, limits: ExtractLimits | None = None) -> ExtractedDocument:
    """The text of the file ``data`` (its ``name`` breaks ties between kinds), structure kept."""
    limits = limits or ExtractLimits()
    kind = sniff(data, name)
    try:
        document = _extract(kind, data, limits)
    except DocumentFileError:
        raise
    except (ValueError, LookupError, zipfile.BadZipFile, OSError, RecursionError) as exc:
        # A parser that chokes on a malformed file: the file's fault, said so.
        raise CorruptDocument(f"the {kind} file cannot be read: {exc}", param="file") from None
    if not document.text.strip():
        raise EmptyDocument(f"the {kind} file holds no text", param="file")
    return document


def _extract(kind: DocumentKind, data: bytes, limits: ExtractLimits) -> ExtractedDocument:
    if kind == "pdf":
        return extract_pdf(data, limits)
    if kind == "docx":
        return extract_docx(data, limits)
    if kind == "email":
        builder = TextBuilder(limits.max_chars)
        title = add_email(data, builder)
        return ExtractedDocument(builder.text(), kind, title, None, tuple(builder.blocks))
    text = decode_text(data)
    if kind == "text":
        if len(text) > limits.max_chars:
            raise DocumentTooLarge(
                f"the text has {len(text)} characters; the limit is {limits.max_chars}", param="file"
            )
        return ExtractedDocument(text, kind)
    builder = TextBuilder(limits.max_chars)
    title = add_html(text, builder) if kind == "html" else add_markdown(text, builder)
    return ExtractedDocument(builder.text(), kind, title, None, tuple(builder.blocks))
