"""Each architecture's fast path: one module per architecture, found by ``config.model_type``.

An architecture with an entry in :data:`ARCHITECTURES` gets docsum's speed paths
(``models._speed.plan``); one without gets none, and its load-time report says so
(``accelerated: false`` with the reason). What differs between architectures is here
and nowhere else: the scripted decoding step (its layers and ends, ``models._speed.decoding_step``),
which attention projections cache in bf16, and module swaps made before anything else.

Adding an architecture is one module like ``bart.py`` and one line in :data:`ARCHITECTURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True, slots=True)
class ScriptedParts:
    """What a scripted decoding step runs for one model: its ends (``embed(tokens, position)`` for the new
    token, ``forward(hidden)`` for the logits) and one scripted call per decoder layer, in TorchScript."""

    ends: Any
    layers: list[Any]
    cache_dtype: torch.dtype  # the key/value caches' dtype the layers expect
    # Learned positions the decoder has (past them transformers raises its own error); None for relative ones.
    positions: int | None
    # T5's relative position bias for the new token, by transformers' own code; None where positions are embedded.
    position_bias: Callable[..., torch.Tensor] | None = None


def _nothing(model: Any) -> None:
    del model


@dataclass(frozen=True, slots=True)
class Architecture:
    """One architecture's fast path.

    ``scripted_parts`` builds the scripted decoding step's parts for a model of this
    architecture, or returns None where this model has none (another head class, an
    activation with no scripted layer): then no scripted step was ever claimed, which is
    no miss. ``bf16_projections`` names the attention modules' key and value projections
    whose outputs int8 models cache in bf16 (``models._speed.attention.attend_in_bf16``);
    None keeps the caches fp32. ``prepare`` swaps modules before any other path is set up.
    """

    name: str
    scripted_parts: Callable[[Any], ScriptedParts | None]
    bf16_projections: tuple[str, str] | None = None
    prepare: Callable[[Any], None] = _nothing


def _registry() -> dict[str, Architecture]:
    from models._speed.arch import bart, pegasus, t5

    return {
        "bart": bart.ARCHITECTURE,
        "pegasus": pegasus.ARCHITECTURE,
        "t5": t5.ARCHITECTURE,
    }


def architecture_of(model: Any) -> Architecture | None:
    """The fast path registered for the model's ``config.model_type``; None where there is none."""
    return _registry().get(str(getattr(model.config, "model_type", "")))


def registered() -> list[str]:
    """The model types with a fast path, for reports."""
    return sorted(_registry())
