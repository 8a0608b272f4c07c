"""Hugging Face seq2seq checkpoints (BART, PEGASUS, T5, ...) through transformers: a hub id or a local directory."""

from __future__ import annotations

import os
from pathlib import Path

from models.backends import ModelSpec
from models.errors import ModelError
from models.hub import hub_unreachable, in_hub_cache
from models.loading import LoadSettings, check_local_checkpoint, is_local_source
from models.types import ModelKind, Summarizer


class TransformersBackend:
    name = "transformers"
    kind: ModelKind = "seq2seq"
    scheme: str | None = None  # hub ids and directories: DEFAULT_BACKEND, for sources without a scheme

    def probe(self, spec: ModelSpec) -> str | None:
        if is_local_source(spec.source):
            try:
                check_local_checkpoint(Path(spec.source).expanduser())
            except ModelError as exc:
                return exc.message
            return None
        if in_hub_cache(spec.source, spec.revision):
            return None
        if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"}:
            return f"{spec.source} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
        if (unreachable := hub_unreachable()) is not None:
            return f"{spec.source} is not in the local Hugging Face cache and the hub cannot be reached ({unreachable})"
        return None

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        from models.seq2seq import Seq2SeqSummarizer

        return Seq2SeqSummarizer.load(spec.name, spec.source, settings)


BACKEND = TransformersBackend()
