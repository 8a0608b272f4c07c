"""Why a file cannot be read as a document: each class's ``code`` is its error code everywhere
(``service.errors.ERROR_CODES`` gives its HTTP status: 415, 413 or 422)."""

from __future__ import annotations

from models.errors import ModelError


class DocumentFileError(ModelError):
    """A file docsum cannot turn into text; the message says why, for the person who sent it."""

    code = "corrupt_document"


class UnsupportedFileType(DocumentFileError):
    code = "unsupported_file_type"


class EncryptedDocument(DocumentFileError):
    code = "encrypted_document"


class CorruptDocument(DocumentFileError):
    code = "corrupt_document"


class NoTextLayer(DocumentFileError):
    code = "no_text_layer"


class ArchiveTooLarge(DocumentFileError):
    code = "archive_too_large"


class TooManyPages(DocumentFileError):
    code = "too_many_pages"


class DocumentTooLarge(DocumentFileError):
    code = "document_too_large"


class ExtractionTimeout(DocumentFileError):
    code = "extraction_timeout"


class EmptyDocument(DocumentFileError):
    code = "empty_document"
