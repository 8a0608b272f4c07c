"""Exceptions raised by the model library.

ModelError                 base of everything the library raises on purpose        code
├── UnknownModel           a name that is not in the catalog                        model_not_found
├── ModelUnavailable       a catalog model that cannot be loaded (missing files,    model_unavailable
│   │                      offline, unsafe)
│   └── UnsafeCheckpoint   weights that are not safetensors                         model_unavailable
├── ModelNotLoadable       a catalog model callers may not load (DOCSUM_LOADABLE)   model_not_loadable
├── ModelsBusy             at the resident-model cap, every resident model busy     models_busy
├── InvalidOption          an option's value outside its bounds (models.options)    invalid_request
├── UnsupportedOption      an option the chosen summarizer cannot honour            unsupported_option
├── UpstreamUnavailable    a remote model's server does not answer (refused, timed  upstream_unavailable
│                          out, 429/5xx after retries, circuit breaker open)
├── UpstreamError          a remote model's server answered wrongly (malformed,     upstream_error
│                          wrong model, a 4xx to docsum's request)
└── InvalidInput           a document the summarizer cannot take (empty, ...)       invalid_input
    ├── InputTooLong       longer than the model's window, with truncation "error"  input_too_long
    ├── TooManyChunks      map-reduce would need more chunks than allowed           too_many_chunks
    └── TooManySentences   more sentences than the extractive model scores          too_many_sentences

Each class's ``code`` is its error code everywhere: in an HTTP error, in a batch
item, in a job's result line and in ``docsum batch`` output. ``service.errors.ERROR_CODES``
gives each code its HTTP status (one table; a test checks every code here is in it).
"""

from __future__ import annotations

from typing import ClassVar


class ModelError(Exception):
    """Base of every error the model library raises on purpose.

    ``details`` are the numbers behind it (limits and what was asked), for the error object.
    """

    code: ClassVar[str] = "invalid_request"

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.details: dict[str, int] = {}


class UnknownModel(ModelError):
    """The name is not in the catalog."""

    code = "model_not_found"


class ModelUnavailable(ModelError):
    """The model is in the catalog but cannot be loaded."""

    code = "model_unavailable"


class ModelNotLoadable(ModelError):
    """The model is in the catalog, but the operator does not let callers load it (``DOCSUM_LOADABLE``)."""

    code = "model_not_loadable"


class ModelsBusy(ModelError):
    """Loading the model would pass the cap on resident models, and every resident one has work in flight."""

    code = "models_busy"


class UnsafeCheckpoint(ModelUnavailable):
    """The checkpoint ships no safetensors weights; pickled weights are never loaded."""


class InvalidOption(ModelError):
    """An option's value is outside the bounds ``models.options`` gives it."""


class UnsupportedOption(ModelError):
    """The summarizer cannot honour an option that was set."""

    code = "unsupported_option"


class UpstreamUnavailable(ModelError):
    """The server of a remote model (``models.upstream``) does not answer now; later it may."""

    code = "upstream_unavailable"


class UpstreamError(ModelError):
    """The server of a remote model answered, but not with a usable answer."""

    code = "upstream_error"


class InvalidInput(ModelError):
    """The document cannot be summarized as given."""

    code = "invalid_input"


class InputTooLong(InvalidInput):
    """The document does not fit the model's window and the caller asked not to cut it."""

    code = "input_too_long"

    def __init__(self, input_tokens: int, max_input_tokens: int) -> None:
        super().__init__(
            f"the input has {input_tokens} tokens; the model reads at most {max_input_tokens} "
            '(use truncation "chunk" or "head")',
            param="text",
        )
        self.input_tokens = input_tokens
        self.max_input_tokens = max_input_tokens
        self.details = {"input_tokens": input_tokens, "max_input_tokens": max_input_tokens}


class TooManyChunks(InvalidInput):
    """Summarizing the document would take more map chunks than one request may cause."""

    code = "too_many_chunks"

    def __init__(self, chunks: int, max_chunks: int) -> None:
        super().__init__(
            f"the input needs {chunks} chunks of the model's window; one document may take at most {max_chunks} "
            '(shorten it, or use truncation "head")',
            param="text",
        )
        self.details = {"chunks": chunks, "max_chunks": max_chunks}


class TooManySentences(InvalidInput):
    """The extractive model's scoring is quadratic in sentences: more than the limit is refused."""

    code = "too_many_sentences"

    def __init__(self, sentences: int, max_sentences: int) -> None:
        super().__init__(
            f"the input has {sentences} sentences; the extractive model scores at most {max_sentences} per document",
            param="text",
        )
        self.details = {"sentences": sentences, "max_sentences": max_sentences}
