"""Exceptions raised by the model library.

ModelError                 base of everything the library raises on purpose
├── UnknownModel           a name that is not in the catalog
├── ModelUnavailable       a catalog model that cannot be loaded (missing files, offline, unsafe)
│   └── UnsafeCheckpoint   weights that are not safetensors
├── UnsupportedOption      an option the chosen summarizer cannot honour
└── InvalidInput           a document the summarizer cannot take (empty, ...)
    └── InputTooLong       longer than the model's window, with truncation "error"

The service maps each of these to one HTTP status and error code; see
``service/errors.py``.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base of every error the model library raises on purpose."""

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class UnknownModel(ModelError):
    """The name is not in the catalog."""


class ModelUnavailable(ModelError):
    """The model is in the catalog but cannot be loaded."""


class UnsafeCheckpoint(ModelUnavailable):
    """The checkpoint ships no safetensors weights; pickled weights are never loaded."""


class UnsupportedOption(ModelError):
    """The summarizer cannot honour an option that was set."""


class InvalidInput(ModelError):
    """The document cannot be summarized as given."""


class InputTooLong(InvalidInput):
    """The document does not fit the model's window and the caller asked not to cut it."""

    def __init__(self, input_tokens: int, max_input_tokens: int) -> None:
        super().__init__(
            f"the input has {input_tokens} tokens; the model reads at most {max_input_tokens} "
            '(use truncation "chunk" or "head")',
            param="text",
        )
        self.input_tokens = input_tokens
        self.max_input_tokens = max_input_tokens
