"""The load-time checks that a speed path set up on a model really runs: a path that does not is undone.

A speed path that quietly stops engaging (transformers renames an argument, an
architecture's layers change) leaves outputs correct and speed gone. Each check here
runs a tiny ``generate`` call and says why a path did not engage (None where it did);
``models._speed.plan`` reports the answers (``models.acceleration``).
"""

from __future__ import annotations

from typing import Any

from models._speed.decoding_step import ScriptedStep, unscript_decoding_steps
from models._speed.patches import share_encoder_outputs_across_beams, stop_sharing_encoder_outputs
from models.warmup import warm_up


def check_shared_encoder_outputs(model: Any) -> str | None:
    """One encoder output per document, not per beam, on a beam-search call; undone where it fails."""
    share_encoder_outputs_across_beams(model)
    try:  # an architecture whose cross-attention bypasses the attention interface fails here
        warm_up(model, next(model.parameters()).device, beams=2)
    except (RuntimeError, ValueError, IndexError) as exc:
        stop_sharing_encoder_outputs(model)
        return str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
    return None


def check_scripted_steps(model: Any, scripted: ScriptedStep) -> str | None:
    """Whether the scripted decoding steps run on a warm-up call; if not, they are undone and this says why."""
    warm_up(model, next(model.parameters()).device)
    if scripted.taken:
        return None
    unscript_decoding_steps(model)
    return f"every warm-up step went to transformers (arguments: {', '.join(scripted.declined)})"
