"""What docsum's speed paths did for a loaded model, checked at load time rather than assumed.

A speed path that quietly stops engaging (transformers renames an argument, an
architecture's layers change) leaves outputs correct and speed gone, and nobody
notices. So each path a model is supposed to take is checked on the warm-up call at
load: the report says which ran and, for any that did not, why. The service shows
it in ``GET /v1/models`` (``accelerated``, ``acceleration``) and logs one warning
per model whose claimed path did not engage. The paths themselves are private
(``models._speed``); this report is public.
"""

from __future__ import annotations

from dataclasses import dataclass

#: docsum's attention (models._speed.attention) for reduced-precision models on SDPA.
ATTENTION = "docsum_attention"
#: TorchScript decoding steps on CPU: int8 BART, PEGASUS and T5 (models._speed.decoding_step), instruct models
#: with docsum's forward (models._speed.causal_step).
SCRIPTED_STEPS = "scripted_decoding_steps"
#: One copy of the encoder output per document, not per beam (models._speed.patches).
SHARED_ENCODER_OUTPUTS = "shared_encoder_outputs"
#: CPU batches cut in single-threaded parts (models._speed.generation.generate_in_parts).
PARTS = "cpu_parts"
#: Instruct (decoder-only) models: int8 Linear layers, the LM head included (models._speed.int8).
INT8_LINEAR = "int8_linear"
#: Instruct models: a prompt's prefill runs the LM head on its last position only (transformers' logits_to_keep).
LAST_LOGITS = "last_position_logits"
#: Instruct models: each row attends over its own tokens, left padding cut off (batch invariance).
PER_DOCUMENT_ATTENTION = "per_document_attention"
#: Instruct models (Llama's layers): prompts one document at a time, decoding steps batched, the cache written in
#: place (models._speed.causal_forward).
CAUSAL_FORWARD = "causal_forward"
#: Why a model loaded with ``LoadSettings(accelerate=False)`` runs none of them.
TURNED_OFF = "turned off (DOCSUM_ACCELERATE=false)"


@dataclass(frozen=True, slots=True)
class Acceleration:
    """The speed paths a model runs (``engaged``) and those it was meant to run but does not (``missing``,
    each with its reason). ``note`` says why none was meant to run at all (plain fp32, a GPU, ...)."""

    engaged: tuple[str, ...] = ()
    missing: tuple[tuple[str, str], ...] = ()
    note: str | None = None

    @property
    def accelerated(self) -> bool:
        return bool(self.engaged) and not self.missing

    @property
    def reason(self) -> str | None:
        """Why the model is not (fully) accelerated; None when it is."""
        if self.missing:
            return "; ".join(f"{path} did not engage: {why}" for path, why in self.missing)
        return None if self.engaged else self.note or "no speed path applies to this model"


NOT_APPLICABLE = Acceleration(note="no speed path applies to this model")
