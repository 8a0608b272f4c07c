"""models.backends: each source goes to the backend that claims it; a new backend is a module and one line."""

from __future__ import annotations

from pathlib import Path

import pytest

import models.backends as backends_module
from models.backends import DEFAULT_BACKEND, Backend, ModelSpec, backend_for_source, backend_named, backends
from models.catalog import BUILTIN_MODELS, default_loader, parse_model_entry, probe_source
from models.loading import LoadSettings
from models.types import ModelKind, Summarizer, SummaryOptions
from tests.fakes import FakeSummarizer
from tests.models.test_embeddings import build_tiny_bert


def test_every_backend_is_registered_once_with_its_scheme() -> None:
    registered = backends()
    assert set(registered) == {
        *("extractive", "extractive-embeddings", "transformers", "ctranslate2", "instruct", "gguf"),
        *("openai", "llamacpp"),
    }
    schemes = [b.scheme for b in registered.values() if b.scheme is not None]
    assert len(schemes) == len(set(schemes))
    assert registered[DEFAULT_BACKEND].kind == "seq2seq"


def test_sources_go_to_the_backend_that_claims_their_scheme() -> None:
    backend, source = backend_for_source("ct2: /models/bart-ct2")
    assert (backend.name, source) == ("ctranslate2", "/models/bart-ct2")
    backend, source = backend_for_source("org/model")
    assert (backend.name, source) == ("transformers", "org/model")
    assert BUILTIN_MODELS["extractive"].backend == "extractive"
    backend, source = backend_for_source("gguf:/models/chat.gguf")
    assert (backend.name, backend.kind, source) == ("gguf", "instruct", "/models/chat.gguf")
    backend, source = backend_for_source("instruct:Qwen/Qwen2.5-0.5B-Instruct")
    assert (backend.name, backend.kind, source) == ("instruct", "instruct", "Qwen/Qwen2.5-0.5B-Instruct")
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


def test_embeddings_sources_serve_the_extractive_summarizer_ranked_by_an_encoder(tmp_path: Path) -> None:
    """``NAME=embeddings:DIR``: models/embeddings.py reached from the catalog, not only from tests."""
    encoder = build_tiny_bert(tmp_path / "bert")
    spec = parse_model_entry(f"ranked=embeddings:{encoder}")
    assert (spec.backend, spec.kind) == ("extractive-embeddings", "extractive")
    assert probe_source(spec) is None
    summarizer = default_loader(LoadSettings(device="cpu"))(spec)
    text = " ".join(f"Sentence number {i} talks about topic {i % 3} at some length here." for i in range(12))
    [summary] = summarizer.summarize([text], SummaryOptions(sentences=2))
    assert summary.sentences is not None and len(summary.sentences) == 2
    assert all(text[s.offset : s.offset + s.length] == s.text for s in summary.sentences)


def test_an_embeddings_source_that_cannot_load_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("models.embeddings.bundled_minilm_path", lambda: None)
    assert "docsum[embeddings]" in (probe_source(parse_model_entry("ranked=embeddings:auto")) or "")
    missing = tmp_path / "none"
    assert probe_source(parse_model_entry(f"ranked=embeddings:{missing}")) == f"no checkpoint directory at {missing}"
