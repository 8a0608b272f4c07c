"""Documents in: the text of PDF, DOCX, HTML, Markdown, plain text and e-mail files, structure kept.

``extract(data, name, limits)`` sniffs the kind by content (``sniff``), extracts its text
(paragraphs and headings as blocks, list items as ``- `` lines, table rows as cells joined by
`` | ``, in reading order) with a page map for PDFs, and raises a ``DocumentFileError``
(its ``code``: ``unsupported_file_type``, ``encrypted_document``, ``corrupt_document``,
``no_text_layer``, ``archive_too_large``, ``too_many_pages``, ``document_too_large``,
``empty_document``) for a file it cannot read. ``BoundedExtractor`` runs it in a child process
with a time and memory limit (``extraction_timeout``). Pure and synchronous.
"""

from models.documents.errors import (
    ArchiveTooLarge,
    CorruptDocument,
    DocumentFileError,
    DocumentTooLarge,
    EmptyDocument,
    EncryptedDocument,
    ExtractionTimeout,
    NoTextLayer,
    TooManyPages,
    UnsupportedFileType,
)
from models.documents.extract import extract
from models.documents.sniff import sniff
from models.documents.types import DocumentKind, ExtractedDocument, ExtractLimits, PageSpan

__all__ = [
    "ArchiveTooLarge",
    "CorruptDocument",
    "DocumentFileError",
    "DocumentKind",
    "DocumentTooLarge",
    "EmptyDocument",
    "EncryptedDocument",
    "ExtractLimits",
    "ExtractedDocument",
    "ExtractionTimeout",
    "NoTextLayer",
    "PageSpan",
    "TooManyPages",
    "UnsupportedFileType",
    "extract",
    "sniff",
]
