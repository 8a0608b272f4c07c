"""Seq2seq models converted by ``docsum convert``, run by CTranslate2: sources ``ct2:DIR``."""

from __future__ import annotations

from pathlib import Path

from models.backends import ModelSpec
from models.errors import ModelError
from models.loading import LoadSettings
from models.types import ModelKind, Summarizer


class CTranslate2Backend:
    name = "ctranslate2"
    kind: ModelKind = "seq2seq"
    scheme: str | None = "ct2:"

    def probe(self, spec: ModelSpec) -> str | None:
        from models.ctranslate2_backend import check_ctranslate2_dir, ctranslate2_missing

        try:
            check_ctranslate2_dir(Path(spec.source).expanduser())
        except ModelError as exc:
            return exc.message
        return ctranslate2_missing()

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        from models.ctranslate2_backend import CTranslate2Summarizer

        return CTranslate2Summarizer.load(spec.name, spec.source, settings)


BACKEND = CTranslate2Backend()
