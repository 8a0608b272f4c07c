"""The model catalog: names callers may ask for, and the registry that loads them lazily.

Requests name models; only the operator (command line, settings) maps a name to
a source, so a request can never make the service read an arbitrary path or
fetch an arbitrary hub id.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.acceleration import NOT_APPLICABLE, Acceleration
from models.errors import ModelError, ModelUnavailable, UnknownModel
from models.loading import LoadSettings, check_local_checkpoint, is_local_source
from models.types import ModelKind, Summarizer

Backend = Literal["transformers", "ctranslate2"]
#: ``NAME=ct2:DIR`` serves DIR (the output of ``docsum convert``) with CTranslate2.
CTRANSLATE2_PREFIX = "ct2:"

logger = logging.getLogger(__name__)

EXTRACTIVE_SOURCE = "builtin"


@dataclass(frozen=True, slots=True)
class ModelSpec:
    name: str
    source: str
    kind: ModelKind = "seq2seq"
    revision: str | None = None
    backend: Backend = "transformers"


BUILTIN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("extractive", EXTRACTIVE_SOURCE, "extractive"),
        ModelSpec("distilbart-cnn", "sshleifer/distilbart-cnn-12-6"),
        ModelSpec("bart-large-cnn", "facebook/bart-large-cnn"),
        ModelSpec("pegasus-cnn", "google/pegasus-cnn_dailymail"),
        ModelSpec("pegasus-xsum", "google/pegasus-xsum"),
        ModelSpec("t5-small", "google-t5/t5-small"),
        ModelSpec("flan-t5-base", "google/flan-t5-base"),
    )
}


def parse_model_entry(entry: str) -> ModelSpec:
    """``NAME=SOURCE[@REVISION]``, SOURCE a hub id or a local directory; or ``NAME=ct2:DIR``.

    ``ct2:DIR`` is a CTranslate2 model directory written by ``docsum convert``,
    served by the CTranslate2 backend (``pip install 'docsum[ctranslate2]'``).
    """
    name, sep, source = entry.partition("=")
    name, source = name.strip(), source.strip()
    if not sep or not name or not source:
        raise ValueError(f"expected NAME=SOURCE, got {entry!r}")
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"model name {name!r} may hold only letters, digits, '-', '_' and '.'")
    if source.startswith(CTRANSLATE2_PREFIX):
        directory = source.removeprefix(CTRANSLATE2_PREFIX).strip()
        if not directory:
            raise ValueError(f"expected NAME=ct2:DIR, got {entry!r}")
        return ModelSpec(name, directory, "seq2seq", None, "ctranslate2")
    revision = None
    if "@" in source and not is_local_source(source):
        source, _, revision = source.rpartition("@")
    return ModelSpec(name, source, "seq2seq", revision or None)


def build_catalog(extra: Iterable[ModelSpec] = ()) -> dict[str, ModelSpec]:
    """The built-in models plus the operator's own; an operator entry replaces a built-in of the same name."""
    catalog = dict(BUILTIN_MODELS)
    for spec in extra:
        catalog[spec.name] = spec
    return catalog


State = Literal["loaded", "not_loaded", "unavailable"]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    name: str
    kind: ModelKind
    source: str
    state: State
    reason: str | None
    max_input_tokens: int | None
    # Loaded models only: whether every speed path meant for the model runs, and if not, why.
    accelerated: bool | None = None
    acceleration: str | None = None

    @property
    def available(self) -> bool:
        return self.state != "unavailable"


Loader = Callable[[ModelSpec], Summarizer]
Probe = Callable[[ModelSpec], "str | None"]


class ModelRegistry:
    """Loads catalog models on first use, once, and remembers why a load failed.

    ``probe`` tells, without loading, why a model surely cannot load; it goes with
    the loader it knows about. Without a loader, the default one and its probe.
    """

    def __init__(
        self, catalog: Mapping[str, ModelSpec], loader: Loader | None = None, probe: Probe | None = None
    ) -> None:
        if loader is None:
            loader, probe = default_loader(LoadSettings()), probe_source
        self._specs = dict(catalog)
        self._loader = loader
        self._loaded: dict[str, Summarizer] = {}
        self._failures: dict[str, str] = {}
        self._locks = {name: threading.Lock() for name in self._specs}
        for spec in self._specs.values():
            reason = probe(spec) if probe is not None else None
            if reason is not None:
                self._failures[spec.name] = reason

    @property
    def names(self) -> list[str]:
        return list(self._specs)

    def spec(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise UnknownModel(f"no model named {name!r}; GET /v1/models lists them", param="model") from None

    def add(self, summarizer: Summarizer, source: str = "injected") -> None:
        """Serve an already built summarizer under its own name (tests, notebooks)."""
        self._specs[summarizer.name] = ModelSpec(summarizer.name, source, summarizer.kind)
        self._locks.setdefault(summarizer.name, threading.Lock())
        self._loaded[summarizer.name] = summarizer
        self._failures.pop(summarizer.name, None)

    def get(self, name: str) -> Summarizer:
        """The loaded summarizer, loading it now if needed (slow: call off the event loop)."""
        spec = self.spec(name)
        if (summarizer := self._loaded.get(name)) is not None:
            return summarizer
        with self._locks[name]:
            if (summarizer := self._loaded.get(name)) is not None:
                return summarizer
            if name in self._failures:
                raise ModelUnavailable(f"model {name!r} is unavailable: {self._failures[name]}", param="model")
            try:
                summarizer = self._loader(spec)
            except ModelError as exc:
                self._failures[name] = exc.message
                raise ModelUnavailable(f"model {name!r} is unavailable: {exc.message}", param="model") from exc
            self._loaded[name] = summarizer
            return summarizer

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def status(self, name: str) -> ModelStatus:
        spec = self.spec(name)
        loaded = self._loaded.get(name)
        state: State = "loaded" if loaded else "unavailable" if name in self._failures else "not_loaded"
        acceleration: Acceleration | None = getattr(loaded, "acceleration", None) if loaded else None
        if loaded and acceleration is None:
            acceleration = NOT_APPLICABLE
        return ModelStatus(
            name=name,
            kind=spec.kind,
            source=spec.source,
            state=state,
            reason=self._failures.get(name),
            max_input_tokens=loaded.max_input_tokens if loaded else None,
            accelerated=acceleration.accelerated if acceleration else None,
            acceleration=acceleration.reason if acceleration else None,
        )


def default_loader(settings: LoadSettings) -> Loader:
    def load(spec: ModelSpec) -> Summarizer:
        if spec.kind == "extractive":
            from models.extractive import ExtractiveSummarizer

            return ExtractiveSummarizer(name=spec.name)
        revision = spec.revision or settings.revision
        placed = LoadSettings(device=settings.device, dtype=settings.dtype, revision=revision, threads=settings.threads)
        if spec.backend == "ctranslate2":
            from models.ctranslate2_backend import CTranslate2Summarizer

            return CTranslate2Summarizer.load(spec.name, spec.source, placed)
        from models.seq2seq import Seq2SeqSummarizer

        return Seq2SeqSummarizer.load(spec.name, spec.source, placed)

    return load


def load_by_name_or_source(name_or_source: str, catalog: Mapping[str, ModelSpec], settings: LoadSettings) -> Summarizer:
    """For the CLI: a catalog name, or else a local directory, a hub id or ``ct2:DIR``."""
    spec = catalog.get(name_or_source)
    if spec is None and name_or_source.startswith(CTRANSLATE2_PREFIX):
        directory = name_or_source.removeprefix(CTRANSLATE2_PREFIX)
        spec = ModelSpec(Path(directory).name or directory, directory, backend="ctranslate2")
    if spec is None:
        spec = ModelSpec(Path(name_or_source).name or name_or_source, name_or_source)
    reason = probe_source(spec)
    if reason is not None:
        raise ModelUnavailable(reason, param="model")
    return default_loader(settings)(spec)


def probe_source(spec: ModelSpec) -> str | None:
    """Why the model surely cannot load, found without loading it; ``None`` if it may."""
    if spec.kind == "extractive":
        return None
    if spec.backend == "ctranslate2":
        from models.ctranslate2_backend import check_ctranslate2_dir, ctranslate2_missing

        try:
            check_ctranslate2_dir(Path(spec.source).expanduser())
        except ModelError as exc:
            return exc.message
        return ctranslate2_missing()
    if is_local_source(spec.source):
        try:
            check_local_checkpoint(Path(spec.source).expanduser())
        except ModelError as exc:
            return exc.message
        return None
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes", "on"} and not _in_hub_cache(spec):
        return f"{spec.source} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set"
    return None


def _in_hub_cache(spec: ModelSpec) -> bool:
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(spec.source, "config.json", revision=spec.revision)
    return isinstance(found, str)
