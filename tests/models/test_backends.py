"""models.backends: each source goes to the backend that claims it; a new backend is a module and one line."""

from __future__ import annotations

from pathlib import Path

import pytest

import models.backends as backends_module
from models.backends import DEFAULT_BACKEND, Backend, ModelSpec, backend_for_source, backend_named, backends
from models.catalog import BUILTIN_MODELS, default_loader, parse_model_entry, probe_source
from models.loading import LoadSettings
from models.types import ModelKind, Summarizer
from tests.fakes import FakeSummarizer


def test_every_backend_is_registered_once_with_its_scheme() -> None:
    registered = backends()
    assert set(registered) == {"extractive", "transformers", "ctranslate2"}
    schemes = [b.scheme for b in registered.values() if b.scheme is not None]
    assert len(schemes) == len(set(schemes))
    assert registered[DEFAULT_BACKEND].kind == "seq2seq"


def test_sources_go_to_the_backend_that_claims_their_scheme() -> None:
    backend, source = backend_for_source("ct2: /models/bart-ct2")
    assert (backend.name, source) == ("ctranslate2", "/models/bart-ct2")
    backend, source = backend_for_source("org/model")
    assert (backend.name, source) == ("transformers", "org/model")
    assert BUILTIN_MODELS["extractive"].backend == "extractive"
    with pytest.raises(ValueError, match="no backend named 'nope'"):
        backend_named("nope")


class _EchoBackend:
    """A backend as a new module would write it."""

    name = "echo"
    kind: ModelKind = "seq2seq"
    scheme: str | None = "echo:"

    def probe(self, spec: ModelSpec) -> str | None:
        return None if spec.source == "ok" else f"no echo model {spec.source!r}"

    def load(self, spec: ModelSpec, settings: LoadSettings) -> Summarizer:
        return FakeSummarizer(name=spec.name)


def test_a_new_backend_plugs_in_with_one_registration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    registered = backends_module._registered()
    echo: Backend = _EchoBackend()
    monkeypatch.setattr(backends_module, "_registered", lambda: (*registered, echo))
    spec = parse_model_entry("mine=echo:ok")
    assert (spec.backend, spec.source, spec.kind) == ("echo", "ok", "seq2seq")
    assert probe_source(spec) is None
    assert probe_source(parse_model_entry("other=echo:gone")) == "no echo model 'gone'"
    summarizer = default_loader(LoadSettings())(spec)
    assert summarizer.name == "mine"
    with pytest.raises(ValueError, match="expected NAME=echo:SOURCE"):
        parse_model_entry("empty=echo:")
