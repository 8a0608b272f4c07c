"""PEGASUS's fast path: BART's scripted layers, pre-norm, with sinusoidal positions from 0; bf16 key/value caches."""

from __future__ import annotations

from typing import Any

from models._speed.arch import Architecture, ScriptedParts
from models._speed.arch.bart import scripted_parts as bart_family_parts


def scripted_parts(model: Any) -> ScriptedParts | None:
    return bart_family_parts(model, "PegasusForConditionalGeneration", pre_norm=True)


ARCHITECTURE = Architecture("PEGASUS", scripted_parts, bf16_projections=("k_proj", "v_proj"))
