"""Which of docsum's speed paths a loaded model takes, set up and checked at load: :func:`accelerate`.

The paths, each set up per model instance (none on import, none for another model):
docsum's attention (``models._speed.attention``: a document's beams share one copy of the
encoder output, decoding steps as matmuls, bf16 caches for int8 models), the
architecture's module swaps (``models._speed.arch``), the encoder in slices and CPU
batches cut in single-threaded parts (``models._speed.generation``), scripted decoding
steps for int8 models (``models._speed.decoding_step``), and batch invariance
(``models._speed.invariance``). Only for models on transformers' SDPA of an architecture
with a fast path, and never for plain fp32, whose outputs stay exactly transformers'.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch

from models._speed import attention
from models._speed.arch import Architecture, architecture_of, registered
from models._speed.checks import check_scripted_steps, check_shared_encoder_outputs
from models._speed.decoding_step import ScriptedStep, script_decoding_steps
from models._speed.generation import encode_in_slices, generate_in_parts
from models._speed.invariance import make_batch_invariant
from models._speed.memory import keep_large_blocks_on_the_heap
from models._speed.patches import skip_cross_attention_reorder
from models.acceleration import (
    ATTENTION,
    NOT_APPLICABLE,
    PARTS,
    SCRIPTED_STEPS,
    SHARED_ENCODER_OUTPUTS,
    TURNED_OFF,
    Acceleration,
)
from models.pause_points import with_pause_points

logger = logging.getLogger(__name__)

FP32_NOTE = "float32 runs transformers' own generation"


@dataclass(frozen=True, slots=True)
class SpeedPlan:
    """What a loaded model's generation takes: the paths that engaged (``report``) and how to call it."""

    report: Acceleration = NOT_APPLICABLE
    generates_in_parts: bool = False  # CPU batches cut in single-threaded parts
    encodes_on_the_caller: bool = False  # every encoder pass on the calling thread (batch-invariant floats)
    scripted_steps: ScriptedStep | None = None  # the scripted decoding steps, where they engaged

    def generate(
        self, model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        """``model.generate`` on these inputs as the plan has it; pause points after every decoding step
        (``models.pause_points``) either way. A streamed batch of several documents goes in one call."""
        if self.generates_in_parts and (kwargs.get("streamer") is None or len(input_ids) == 1):
            return generate_in_parts(
                model, input_ids, attention_mask, encodes_on_the_caller=self.encodes_on_the_caller, **kwargs
            )
        output: torch.Tensor = model.generate(
            input_ids=input_ids, attention_mask=attention_mask, **with_pause_points(kwargs)
        )
        return output


PLAIN = SpeedPlan()


def turned_off(*, batch_invariant: bool) -> SpeedPlan:
    """The plan of a model loaded with ``accelerate=False``: transformers' own generation, nothing set up."""
    lost = "; summaries may depend on their batchmates" if batch_invariant else ""
    return SpeedPlan(Acceleration(note=f"{TURNED_OFF}: transformers' own generation{lost}"))


def accelerate(model: Any, *, int8: bool, batch_invariant: bool) -> SpeedPlan:
    """Set up and check every speed path this model takes (CPU heap settings included); its plan.

    ``int8``: its Linear layers are dynamically quantized (``models._speed.int8``).
    ``batch_invariant``: a document's outputs never depend on its batchmates (CPU only).
    """
    on_cpu = next(model.parameters()).device.type == "cpu"
    if on_cpu:
        keep_large_blocks_on_the_heap()
    invariant = batch_invariant and on_cpu
    architecture = architecture_of(model)
    if architecture is None:
        kind = getattr(model.config, "model_type", None) or type(model).__name__
        note = f"no fast path for {kind} models (docsum has them for {', '.join(registered())})"
        return _plain(model, note, invariant=invariant, int8=int8)
    skip_cross_attention_reorder(model)
    if int8 or next(model.parameters()).dtype != torch.float32:
        return _fast(model, architecture, int8=int8, batch_invariant=invariant)
    outputs = "with docsum's batch-invariant attention" if invariant else "outputs exactly as it gives them"
    return _plain(model, f"{FP32_NOTE}, {outputs}", invariant=invariant)


def fast_path(model: Any, *, int8: bool = False, batch_invariant: bool = False) -> SpeedPlan:
    """The reduced-precision path set up on a model of a registered architecture, whatever its dtype (tests
    put it on fp32 models, whose outputs it must not change beyond rounding); ``int8``: as for int8 models."""
    architecture = architecture_of(model)
    if architecture is None:
        raise ValueError(f"no fast path for {type(model).__name__}")
    return _fast(model, architecture, int8=int8, batch_invariant=batch_invariant)


def _plain(model: Any, note: str, *, invariant: bool, int8: bool = False) -> SpeedPlan:
    """transformers' own generation: its outputs exactly, or batch-invariant ones (docsum's attention)."""
    if invariant:
        refused = _use_docsum_attention(model)
        if refused is not None:
            logger.warning("summaries may depend on their batchmates: %s", refused)
        else:
            make_batch_invariant(model, int8=int8)
    return SpeedPlan(Acceleration(note=note))


def _use_docsum_attention(model: Any) -> str | None:
    """The model on docsum's attention (registered with transformers now); None once it is, else why not."""
    implementation = getattr(model.config, "_attn_implementation", None)
    if implementation != "sdpa":
        return f"the model runs {implementation} attention, not SDPA"
    try:
        model.set_attn_implementation(attention.register())
    except (ValueError, AttributeError, ImportError) as exc:
        return f"transformers refused docsum's attention: {exc}"
    return None


def _fast(model: Any, architecture: Architecture, *, int8: bool, batch_invariant: bool) -> SpeedPlan:
    """docsum's generation path for a reduced-precision model; which parts of it engaged.

    With ``int8`` (activations fp32): bf16 caches and encoder attention where the
    architecture has them, and decoding steps in TorchScript. Each part is checked on a
    warm-up call; a part that was set up but does not run is undone and reported with its reason.
    """
    refused = _use_docsum_attention(model)
    if refused is not None:
        return SpeedPlan(Acceleration(missing=((ATTENTION, refused),)))
    engaged: list[str] = [ATTENTION]
    missing: list[tuple[str, str]] = []
    architecture.prepare(model)
    encoder_decoder = getattr(model.config, "is_encoder_decoder", False)
    if encoder_decoder:
        encode_in_slices(model)
    # Before scripting: the scripted steps follow its attention.
    encodes_on_the_caller = batch_invariant and make_batch_invariant(model, int8=int8)
    scripted: ScriptedStep | str | None = None
    if int8:
        if architecture.bf16_projections is not None:
            attention.attend_in_bf16(model, architecture.bf16_projections)
        scripted = script_decoding_steps(model, architecture)
    on_cpu = next(model.parameters()).device.type == "cpu"
    if on_cpu:
        engaged.append(PARTS)
    if encoder_decoder and hasattr(model, "_reorder_cache"):
        # Beams share the cross-attention cache only where it is never reordered.
        failed = check_shared_encoder_outputs(model)
        if failed is None:
            engaged.append(SHARED_ENCODER_OUTPUTS)
        else:
            missing.append((SHARED_ENCODER_OUTPUTS, failed))
    if isinstance(scripted, ScriptedStep):
        failed = check_scripted_steps(model, scripted)
        if failed is None:
            engaged.append(SCRIPTED_STEPS)
        else:
            missing.append((SCRIPTED_STEPS, failed))
            scripted = None
    elif isinstance(scripted, str):  # None: the architecture claims no scripted layers for this model, no miss
        missing.append((SCRIPTED_STEPS, scripted))
    return SpeedPlan(
        Acceleration(engaged=tuple(engaged), missing=tuple(missing)),
        generates_in_parts=on_cpu,
        encodes_on_the_caller=encodes_on_the_caller,
        scripted_steps=scripted if isinstance(scripted, ScriptedStep) else None,
    )
