from __future__ import annotations

import http.server
import socket
import threading
import time
from pathlib import Path

import huggingface_hub.constants
import pytest

from models.catalog import (
    BUILTIN_MODELS,
    ModelRegistry,
    ModelSpec,
    build_catalog,
    parse_model_entry,
    probe_source,
)
from models.errors import ModelUnavailable, UnknownModel
from models.hub import forget_hub_check
from models.types import Summarizer
from tests.fakes import FakeSummarizer


def test_parse_model_entry_takes_hub_ids_revisions_and_paths(tmp_path: Path) -> None:
    assert parse_model_entry("mine=org/model") == ModelSpec("mine", "org/model")
    assert parse_model_entry("mine=org/model@v1.2") == ModelSpec("mine", "org/model", revision="v1.2")
    local = tmp_path / "dir@with-at"
    local.mkdir()
    assert parse_model_entry(f"local={local}") == ModelSpec("local", str(local))


@pytest.mark.parametrize("entry", ["noequals", "=org/model", "name=", "bad name=org/model", "a/b=org/model"])
def test_parse_model_entry_refuses_malformed_entries(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_model_entry(entry)


def test_operator_entries_extend_and_replace_builtins() -> None:
    catalog = build_catalog([ModelSpec("t5-small", "/models/t5"), ModelSpec("mine", "org/m")])
    assert catalog["t5-small"].source == "/models/t5"
    assert set(BUILTIN_MODELS) < set(catalog)


def test_registry_loads_once_lazily_and_remembers_failures(tmp_path: Path) -> None:
    loads: list[str] = []

    def loader(spec: ModelSpec) -> Summarizer:
        loads.append(spec.name)
        if spec.name == "bad":
            raise ModelUnavailable("weights are gone")
        return FakeSummarizer(spec.name)

    catalog = {"good": ModelSpec("good", "org/good"), "bad": ModelSpec("bad", "org/bad")}
    registry = ModelRegistry(catalog, loader)
    assert registry.status("good").state == "not_loaded"
    threads = [threading.Thread(target=registry.get, args=("good",)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert loads == ["good"]
    assert registry.status("good").state == "loaded"
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="weights are gone"):
            registry.get("bad")
    assert loads == ["good", "bad"]
    assert registry.status("bad").reason == "weights are gone"
    with pytest.raises(UnknownModel):
        registry.get("missing")


def test_local_directories_are_probed_without_loading(tmp_path: Path) -> None:
    catalog = {"gone": ModelSpec("gone", str(tmp_path / "gone")), "hub": ModelSpec("hub", "org/not-cached")}
    registry = ModelRegistry(catalog, lambda spec: FakeSummarizer(), probe_source)
    status = registry.status("gone")
    assert status.state == "unavailable" and "no checkpoint directory" in (status.reason or "")
    assert "HF_HUB_OFFLINE" in (registry.status("hub").reason or "")


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine where HF_HUB_OFFLINE is not set; each test points HF_ENDPOINT somewhere on loopback."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # read once, at import
    forget_hub_check()
    monkeypatch.setattr("models.hub._hub_checked", None)


@pytest.mark.usefixtures("online")
def test_an_unreachable_hub_makes_uncached_models_unavailable_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:  # a loopback port nothing listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    registry = ModelRegistry({"hub": ModelSpec("hub", "org/not-cached")}, lambda spec: FakeSummarizer(), probe_source)
    started = time.monotonic()
    status = registry.status("hub")
    assert status.available is False and "cannot be reached" in (status.reason or "")
    with pytest.raises(ModelUnavailable, match="cannot be reached"):
        registry.get("hub")
    assert time.monotonic() - started < 5


@pytest.mark.usefixtures("online")
def test_a_reachable_hub_leaves_uncached_models_available(monkeypatch: pytest.MonkeyPatch) -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)  # answers 501: it answers
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
        registry = ModelRegistry({"hub": ModelSpec("hub", "org/x")}, lambda spec: FakeSummarizer(), probe_source)
        status = registry.status("hub")
        assert status.reason is None, status.reason
        assert status.state == "not_loaded" and status.available
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_builtin_hub_models_are_pinned_where_main_has_no_safetensors() -> None:
    revisions = {name: spec.revision for name, spec in BUILTIN_MODELS.items()}
    assert revisions["distilbart-cnn"] and revisions["pegasus-cnn"] and revisions["pegasus-xsum"]
    documented = (Path(__file__).parents[2] / "docs" / "catalog-sources.md").read_text()
    for spec in BUILTIN_MODELS.values():
        if spec.kind != "extractive":
            assert spec.source in documented and (spec.revision is None or spec.revision in documented)
