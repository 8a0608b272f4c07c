"""service.errors: one code table; the model library's exceptions carry codes that are in it."""

from __future__ import annotations

import models.errors as model_errors
from models.errors import ModelError, UnknownModel
from models.runner import Document, failed_result
from service.errors import DOCUMENT_ERROR_CODES, ERROR_CODES, model_error_status


def _subclasses(cls: type[ModelError]) -> list[type[ModelError]]:
    return [cls, *(sub for direct in cls.__subclasses__() for sub in _subclasses(direct))]


def test_every_library_exception_has_a_code_in_the_table() -> None:
    library = [cls for cls in _subclasses(ModelError) if cls.__module__ == model_errors.__name__]
    assert len(library) >= 10
    for cls in library:
        assert cls.code in ERROR_CODES, cls.__name__
        status, code = model_error_status(cls.__new__(cls))  # only the class matters
        assert (status, code) == (ERROR_CODES[cls.code], cls.code)


def test_a_document_error_and_an_http_error_use_the_same_code() -> None:
    """UnknownModel was `unknown_model` in a batch line and `model_not_found` over HTTP."""
    result = failed_result(Document("a", "text"), UnknownModel("no model 'x'"))
    assert result.error is not None and result.error.code == "model_not_found"
    assert model_error_status(UnknownModel("no model 'x'")) == (404, "model_not_found")


def test_document_error_codes_are_codes_of_the_table_or_per_document_only() -> None:
    per_document_only = {"summarization_failed", "invalid_line"}
    assert set(DOCUMENT_ERROR_CODES) - per_document_only <= set(ERROR_CODES)
