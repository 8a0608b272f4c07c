"""Bounded model memory: which models callers may load, how many stay, idle ones unloaded (a clock we control)."""

from __future__ import annotations

import pytest
import torch

from models.catalog import ModelRegistry, ModelSpec
from models.errors import ModelNotLoadable, ModelsBusy
from models.residency import Residency, module_bytes
from tests.fakes import FakeSummarizer

CATALOG = {name: ModelSpec(name, f"fake/{name}") for name in ("a", "b", "c")}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def registry(**residency: object) -> tuple[ModelRegistry, list[str], list[str]]:
    loads: list[str] = []
    unloads: list[str] = []

    def load(spec: ModelSpec) -> FakeSummarizer:
        loads.append(spec.name)
        return FakeSummarizer(spec.name)

    loadable = residency.pop("loadable", None)
    built = ModelRegistry(CATALOG, load, loadable=loadable, residency=Residency(**residency))  # type: ignore[arg-type]
    built.on_unload(unloads.append)
    return built, loads, unloads


def test_only_loadable_models_load() -> None:
    models, loads, _ = registry(loadable={"a"})
    with pytest.raises(ModelNotLoadable) as refused:
        models.get("b")
    assert refused.value.code == "model_not_loadable"
    assert loads == []
    status = models.status("b")
    assert (status.loadable, status.state) == (False, "unavailable")
    assert models.get("a").name == "a"
    assert models.status("a").loadable
    injected = FakeSummarizer("c")
    models.add(injected)  # what the operator put there is used, loadable or not
    assert models.get("c") is injected


def test_a_loadable_name_outside_the_catalog_fails_at_start() -> None:
    with pytest.raises(ValueError, match="zzz"):
        ModelRegistry(CATALOG, FakeSummarizer, loadable={"a", "zzz"})  # type: ignore[arg-type]


def test_the_least_recently_used_idle_model_makes_room() -> None:
    clock = Clock()
    models, loads, unloads = registry(max_resident=2, clock=clock)
    for name in ("a", "b", "a", "c"):  # a used again after b: b is the least recently used
        clock.now += 1
        models.get(name)
    assert loads == ["a", "b", "c"]
    assert unloads == ["b"]
    assert [models.is_loaded(n) for n in "abc"] == [True, False, True]
    models.get("b")
    assert unloads == ["b", "a"]


def test_a_model_with_work_in_flight_is_never_evicted() -> None:
    clock = Clock()
    models, _, unloads = registry(max_resident=2, clock=clock)
    models.acquire("a")  # a model call is running on a
    clock.now += 1
    models.get("b")
    clock.now += 1
    models.get("c")  # a is older, but busy: b goes
    assert unloads == ["b"]
    models.acquire("c")
    with pytest.raises(ModelsBusy) as busy:
        models.get("b")  # both resident models are busy
    assert busy.value.code == "models_busy"
    models.release("a")
    models.get("b")
    assert unloads == ["b", "a"]


def test_queued_work_counts_as_in_flight() -> None:
    models, _, unloads = registry(max_resident=1)
    waiting = {"a"}
    models.residency.busy = lambda name: name in waiting
    models.get("a")
    with pytest.raises(ModelsBusy):
        models.get("b")
    waiting.clear()
    models.get("b")
    assert unloads == ["a"]


def test_a_pinned_model_stays() -> None:
    clock = Clock()
    models, _, unloads = registry(max_resident=2, idle_seconds=10, clock=clock, pinned=frozenset({"a"}))
    models.get("a")
    models.get("b")
    clock.now = 100
    assert models.unload_idle() == ["b"]
    models.get("b")
    models.get("c")  # a is older but pinned
    assert unloads == ["b", "b"]


def test_idle_models_are_unloaded_after_their_time() -> None:
    clock = Clock()
    models, loads, unloads = registry(idle_seconds=60, clock=clock)
    models.get("a")
    clock.now = 50
    models.get("b")
    models.acquire("c")
    clock.now = 100
    assert models.unload_idle() == ["a"]  # idle 100 s; b only 50 s; c in use
    assert unloads == ["a"]
    clock.now = 200
    assert models.unload_idle() == ["b"]
    models.release("c")
    clock.now = 259
    assert models.unload_idle() == []
    clock.now = 260
    assert models.unload_idle() == ["c"]
    models.get("a")  # loaded again when asked for
    assert loads == ["a", "b", "c", "a"]


class Generator:
    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model


class Holder(FakeSummarizer):
    def __init__(self, generator: Generator, extra: torch.nn.Module) -> None:
        super().__init__("a")
        self.generator = generator
        self.head = extra


def test_memory_is_parameter_and_buffer_bytes_counted_once() -> None:
    linear = torch.nn.Linear(4, 4)  # 16 + 4 float32: 80 bytes
    norm = torch.nn.BatchNorm1d(4)  # weight, bias: 32 bytes; running mean, var: 32; batches tracked (int64): 8
    body = torch.nn.Sequential(linear, norm)
    assert module_bytes(Holder(Generator(body), linear)) == 80 + 72  # linear reached twice, counted once
    assert module_bytes(FakeSummarizer()) is None
    models = ModelRegistry(CATALOG, lambda spec: Holder(Generator(body), linear))
    models.get("a")
    assert models.status("a").memory_bytes == 152
    assert models.status("b").memory_bytes is None
