"""The extractive summarizer: built in, no weights, no source to load."""

from __future__ import annotations

from models.backends import ModelSpec
from models.loading import LoadSettings
from models.types import ModelKind, Summarizer


class ExtractiveBackend:
    name = "extractive"
    kind: ModelKind = "extractive"
    scheme: str | None = None  # its one source, "builtin", is in the built-in catalog, never parsed

    def probe(self, spec: ModelSpec) -> str | None:
        return None

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        from models.extractive import ExtractiveSummarizer

        return ExtractiveSummarizer(name=spec.name, max_sentences=settings.limits.max_sentences)


BACKEND = ExtractiveBackend()
