"""Which loaded models stay in memory: at most ``max_resident`` at once (the least recently used idle
one makes room), and none idle longer than ``idle_seconds``. A model with work in flight is never
unloaded: ``ModelRegistry.acquire`` holds it while a call runs, and ``busy`` (set by whoever queues
work, the service's engine) says whether work waits for it.

Also here: what a loaded model takes in memory, as its torch modules' parameter and buffer bytes.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from models.errors import ModelsBusy

__all__ = ["Residency", "module_bytes"]


@dataclass
class Residency:
    """The policy and its bookkeeping; ``ModelRegistry`` asks it under its own lock."""

    max_resident: int | None = None  # None: no cap
    idle_seconds: float | None = None  # None: never unloaded for idleness
    clock: Callable[[], float] = time.monotonic
    busy: Callable[[str], bool] = lambda _name: False
    # Never unloaded (the service's default model: /ready must not turn 503 because it idled).
    pinned: frozenset[str] = frozenset()
    in_use: dict[str, int] = field(default_factory=dict)
    last_used: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def touch(self, name: str) -> None:
        self.last_used[name] = self.clock()

    def acquire(self, name: str) -> None:
        self.in_use[name] = self.in_use.get(name, 0) + 1
        self.touch(name)

    def release(self, name: str) -> None:
        self.in_use[name] -= 1
        if not self.in_use[name]:
            del self.in_use[name]
        self.touch(name)

    def idle(self, name: str) -> bool:
        """Whether the model may be unloaded now: no call holds it, no work waits for it, not pinned."""
        return name not in self.pinned and not self.in_use.get(name) and not self.busy(name)

    def make_room(self, loaded: Collection[str], loading: int, incoming: str) -> list[str]:
        """The loaded models to unload so that ``incoming`` fits beside them and the ``loading`` ones (least
        recently used first); ``ModelsBusy`` if too many have work in flight."""
        if self.max_resident is None:
            return []
        excess = len(loaded) + loading + 1 - self.max_resident
        if excess <= 0:
            return []
        idle = sorted((n for n in loaded if n != incoming and self.idle(n)), key=lambda n: self.last_used.get(n, 0))
        if len(idle) < excess:
            raise ModelsBusy(
                f"model {incoming!r} cannot load now: {len(loaded) + loading} models are resident or loading (the "
                f"most is {self.max_resident}) and busy; retry shortly",
                param="model",
            )
        return idle[:excess]

    def expired(self, resident: Iterable[str]) -> list[str]:
        """Models idle for longer than ``idle_seconds``."""
        if self.idle_seconds is None:
            return []
        now = self.clock()
        limit = self.idle_seconds
        return [n for n in resident if self.idle(n) and now - self.last_used.get(n, now) >= limit]

    def forget(self, name: str) -> None:
        self.last_used.pop(name, None)


def module_bytes(summarizer: object) -> int | None:
    """Bytes of the parameters and buffers of the torch modules a summarizer holds (looked for in its
    attributes, and theirs one level down: a seq2seq summarizer's generator); each tensor counted once.
    None when it holds no torch module (CTranslate2, the plain extractive model): not measured."""
    modules = _modules(summarizer)
    if not modules:
        return None
    seen: set[tuple[Any, int]] = set()
    total = 0
    for module in modules:
        for tensor in (*module.parameters(), *module.buffers()):
            key = (tensor.device, tensor.data_ptr())
            if key not in seen:
                seen.add(key)
                total += tensor.numel() * tensor.element_size()
    return total


def _modules(summarizer: object) -> list[Any]:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency; kept for a summarizer-only install
        return []
    found: dict[int, Any] = {}
    for value in _attributes(summarizer):
        candidates = [value, *_attributes(value)] if not isinstance(value, torch.nn.Module) else [value]
        for candidate in candidates:
            if isinstance(candidate, torch.nn.Module):
                found[id(candidate)] = candidate
    return list(found.values())


def _attributes(value: object) -> list[object]:
    try:
        return list(vars(value).values())
    except TypeError:  # no __dict__ (slots, builtins)
        return []


def release_memory() -> None:
    """After an unload: collect the model's objects now, and give cached GPU memory back."""
    gc.collect()
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()
