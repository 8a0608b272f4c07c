from __future__ import annotations

import threading
from pathlib import Path

import pytest

from models.catalog import BUILTIN_MODELS, ModelRegistry, ModelSpec, build_catalog, parse_model_entry, probe_source
from models.errors import ModelUnavailable, UnknownModel
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
