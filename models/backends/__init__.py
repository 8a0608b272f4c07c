"""Backends: how a catalog entry's source becomes a summarizer.

A backend is one module of this package with one ``BACKEND`` object (``Backend``):
its name, the kind of model it serves, the source scheme it claims (``ct2:DIR``; the
default backend claims plain hub ids and directories), how to tell without loading
why a source cannot load (``probe``), and how to load it. Adding one is a new module
plus one line in ``_REGISTERED`` below; ``models.catalog`` reads sources and the
registry through ``backend_named`` and ``backend_for_source``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from models.loading import LoadSettings
from models.types import ModelKind, Summarizer


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """A catalog entry: the name callers use, where its weights are, and which backend serves it."""

    name: str
    source: str
    kind: ModelKind = "seq2seq"
    revision: str | None = None
    backend: str = "transformers"


# Serves sources without a scheme: hub ids and local directories.
DEFAULT_BACKEND = "transformers"


class Backend(Protocol):
    name: str
    kind: ModelKind
    scheme: str | None  # the source prefix this backend claims (``ct2:``); None: it claims none

    def probe(self, spec: ModelSpec) -> str | None:
        """Why the source surely cannot load, found without loading it; None if it may."""
        ...

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        """The summarizer, loaded (slow; may raise ``models.errors.ModelError``)."""
        ...


def _registered() -> tuple[Backend, ...]:
    # Each module imports its heavy dependencies only when it loads, so this costs nothing.
    from models.backends import ctranslate2, extractive, instruct, llamacpp, openai, transformers

    return (
        extractive.BACKEND,
        extractive.EMBEDDINGS_BACKEND,
        transformers.BACKEND,
        ctranslate2.BACKEND,
        *(instruct.BACKEND, instruct.GGUF_BACKEND),
        openai.BACKEND,
        llamacpp.BACKEND,
    )


def backends() -> dict[str, Backend]:
    """Every registered backend, by name."""
    return {backend.name: backend for backend in _registered()}


def backend_named(name: str) -> Backend:
    try:
        return backends()[name]
    except KeyError:
        raise ValueError(f"no backend named {name!r}; there are {', '.join(backends())}") from None


def backend_for_source(source: str) -> tuple[Backend, str]:
    """The backend whose scheme the source starts with (``DEFAULT_BACKEND`` if none), and the source without it."""
    for backend in _registered():
        if backend.scheme is not None and source.startswith(backend.scheme):
            return backend, source.removeprefix(backend.scheme).strip()
    return backend_named(DEFAULT_BACKEND), source
