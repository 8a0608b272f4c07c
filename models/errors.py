"""Exceptions raised by the model library.

ModelError                 base of everything the library raises on purpose
├── UnknownModel           a name that is not in the catalog
├── ModelUnavailable       a catalog model that cannot be loaded (missing files, offline, unsafe)
│   └── UnsafeCheckpoint   weights that are not safetensors
├── UnsupportedOption      an option the chosen summarizer cannot honour
└── InvalidInput           a document the summarizer cannot take (empty, ...)

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
