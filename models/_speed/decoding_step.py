"""Decoding steps in TorchScript, for int8 models on CPU (BART, PEGASUS and T5: ``models._speed.arch``).

A greedy decoding step of a small batch is a few hundred small ops. Run by
transformers' modules, each op costs Python around it, and with a batch cut in
parts (``models._speed.generation.generate_in_parts``) the parts' threads take turns on
the GIL between ops. Scripted, the same ops run in TorchScript's interpreter,
which holds no GIL: one call per decoder layer, plus the embedding and the LM
head. Measured here (distilbart-cnn-12-6's shape, int8, two parts of 4 rows at
once, 1 thread each): transformers' model forward 25-29 ms a step, the same ops
in plain Python 18-24 ms, scripted 13-15 ms. ``torch.compile`` broke its graph at
every int8 layer and compiled again for each cache length: 24-26 ms.
``torch.jit`` is deprecated in torch 2.x but still shipped; where scripting
fails, transformers' forward stays. Each architecture's layers are in its module of
``models._speed.arch``; what they share in ``models._speed.scripted_layers``.

Exactly the ops docsum's path runs for these steps (int8 Linear layers, bf16
key/value caches for BART and PEGASUS, fp32 for T5, ``models._speed.attention``'s decoding
matmuls, T5's position bias from transformers' own code), in the same order and
layouts, so logits are bit-equal (``tests/models/speed/test_decoding_step.py``). Only
plain decoding steps take it: one new token per row, caches transformers' dynamic
ones, no attentions or hidden states asked for; anything else (the first step,
which fills the caches) goes to transformers' forward.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from models._speed import attention
from models._speed.arch import Architecture, ScriptedParts
from models._speed.patches import replace_model_forward, restore_model_forward

# The decoder cache's keyword: ``cache`` since transformers 5.25 (which still takes the old one, deprecated),
# ``past_key_values`` before; the step answers under the name its caller used.
_CACHE_KWARGS = ("cache", "past_key_values")
# Arguments of a decoding step this path takes into account or that change nothing in it.
_STEP_KWARGS = frozenset(
    {"decoder_input_ids", *_CACHE_KWARGS, "encoder_outputs", "attention_mask", "use_cache", "cache_position"}
)
_QUIET_KWARGS = frozenset({"return_dict", "output_attentions", "output_hidden_states"})


class ScriptedStep:
    """One scripted call per decoder layer, so each layer's old self-attention cache is freed as its new one is
    made, as transformers' ``DynamicLayer.update`` does (one call for all six held every old cache to the end:
    0.1-0.17 GiB more at the peak of 16 documents); the Python between the calls is a few lines."""

    def __init__(self, model: Any, parts: ScriptedParts) -> None:
        self.taken = 0  # steps run scripted: the load-time check that this path engages reads it
        self.declined: list[str] = []  # the arguments of the last call it left to transformers
        self.ends, self.layers = parts.ends, parts.layers
        self.position_bias: Callable[..., torch.Tensor] | None = parts.position_bias
        self.cache_dtype, self.positions = parts.cache_dtype, parts.positions
        # Cross-attention one document at a time, as the model's own attention does (models._speed.invariance).
        decoder = model.get_decoder()
        self.per_document = any(getattr(m, attention.PER_DOCUMENT_FLAG, False) for m in decoder.modules())

    def bias(self, position: int, device: torch.device) -> torch.Tensor | None:
        """T5's relative position bias for the new token, worked out by transformers' own code (the first
        block's, which every block adds); None for BART and PEGASUS, whose positions are in the embedding."""
        if self.position_bias is None:
            return None
        return self.position_bias(1, position + 1, device=device, past_seen_tokens=position)


def script_decoding_steps(model: Any, architecture: Architecture) -> ScriptedStep | str | None:
    """Decoding steps of an int8 model run scripted: the step now installed, why it could not be (a path meant
    to run), or None where the architecture has no scripted layers for this model (nothing was claimed).

    On CPU with docsum's attention (``models._speed.plan``); other models keep
    transformers' forward. Whether steps then really run scripted is for the caller to
    check on a generate call (:attr:`ScriptedStep.taken`).
    """
    if next(model.parameters()).device.type != "cpu":
        return "scripted steps run on CPU only"
    try:
        parts = architecture.scripted_parts(model)
        if parts is None:
            return None
        scripted = ScriptedStep(model, parts)
    except (TypeError, RuntimeError, AttributeError) as exc:
        return f"scripting failed: {exc}"

    def stepping(forward: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            inputs = None if args else _step_inputs(scripted, kwargs)
            if inputs is None:
                scripted.declined = sorted(name for name, value in kwargs.items() if value is not None)
                return forward(*args, **kwargs)
            scripted.taken += 1
            return _run_step(scripted, inputs)

        return step

    replace_model_forward(model, stepping)
    return scripted


def unscript_decoding_steps(model: Any) -> None:
    """Back to transformers' forward for every step (the scripted path did not engage)."""
    restore_model_forward(model)


def _step_inputs(scripted: ScriptedStep, kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """The scripted step's inputs for this forward call, or None where it must go to transformers."""
    from transformers.cache_utils import DynamicLayer, EncoderDecoderCache

    if any(name not in _STEP_KWARGS | _QUIET_KWARGS for name, value in kwargs.items() if value is not None):
        return None
    if kwargs.get("output_attentions") or kwargs.get("output_hidden_states") or kwargs.get("return_dict") is False:
        return None
    tokens: Any = kwargs.get("decoder_input_ids")
    named = [name for name in _CACHE_KWARGS if kwargs.get(name) is not None]
    if len(named) != 1:
        return None
    cache: Any = kwargs[named[0]]
    if tokens is None or tokens.dim() != 2 or tokens.shape[1] != 1 or type(cache) is not EncoderDecoderCache:
        return None
    own, cross = cache.self_attention_cache.layers, cache.cross_attention_cache.layers
    if (
        len(own) != len(scripted.layers)
        or len(cross) != len(own)
        or not all(cache.is_updated.get(i) for i in range(len(own)))
    ):
        return None
    if any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in (*own, *cross)):
        return None
    if own[0].keys.dtype != scripted.cache_dtype or cross[0].keys.dtype != scripted.cache_dtype:
        return None
    position = own[0].get_seq_length()
    rows, (documents, heads, keys, _) = tokens.shape[0], cross[0].keys.shape
    group = rows // documents
    if position == 0 or rows != group * documents:
        return None
    scores = ((documents, heads * group * keys), (rows, heads * (position + 1)))  # cross- and self-attention
    if any(attention.SCORES_PER_CHUNK // per_row < count for count, per_row in scores):
        return None  # models._speed.attention would cut this in chunks: its order of ops, not this one
    if scripted.positions is not None and position >= scripted.positions:
        return None  # past the learned positions: transformers raises its own error
    masking = _cross_masking(scripted, kwargs.get("attention_mask"), documents, keys)
    return None if masking is None else (tokens, position, masking, named[0], cache)


def _cross_masking(
    scripted: ScriptedStep, mask: torch.Tensor | None, documents: int, keys: int
) -> tuple[torch.Tensor | None, list[int] | None] | None:
    """How the step's cross-attention leaves out the encoder's padding: an additive bias, or each document's key
    count (one document at a time, models._speed.invariance); None where transformers' forward must run."""
    if mask is None:
        return None, None
    if mask.dim() != 2 or tuple(mask.shape) != (documents, keys):
        return None
    if not scripted.per_document:
        return _cross_bias(mask, scripted.cache_dtype), None
    valid = _cross_valid(mask)
    return None if valid is None else (None, valid)  # another mask: models._speed.attention adds it, so transformers'


def _cross_bias(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor | None:
    """The encoder's padding as the bias ``models._speed.attention`` adds to cross-attention scores in the caches'
    ``dtype``; None without padding.

    Made once per ``generate`` call: every step gets the same mask tensor.
    """
    made: dict[torch.dtype, torch.Tensor | None] = attention_mask.__dict__.setdefault("_docsum_cross_bias", {})
    if dtype not in made:
        valid = attention_mask.bool()[:, None, None, :]
        # No padding: transformers makes no mask (adding zeros would change nothing either).
        padded = not bool(valid.all())
        made[dtype] = attention._additive(valid, dtype) if padded else None
    return made[dtype]


def _cross_valid(attention_mask: torch.Tensor) -> list[int] | None:
    """Each document's key count, where the encoder's padding (if any) is at the right of every row; None for
    another mask. Made once per ``generate`` call, as :func:`_cross_bias`."""
    if "_docsum_cross_valid" not in attention_mask.__dict__:
        valid = attention_mask.bool()
        counts = valid.sum(dim=1)
        prefix = torch.equal(valid, torch.arange(valid.shape[1], device=valid.device) < counts[:, None])
        attention_mask._docsum_cross_valid = counts.tolist() if prefix and bool(counts.all()) else None
    known: list[int] | None = attention_mask._docsum_cross_valid
    return known


def _run_step(scripted: ScriptedStep, step: tuple[Any, ...]) -> Any:
    from transformers.modeling_outputs import Seq2SeqLMOutput

    tokens, position, (cross_mask, cross_valid), cache_name, cache = step
    hidden = scripted.ends.embed(tokens, position)
    bias = scripted.bias(position, tokens.device)
    layers = zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers, scripted.layers, strict=True)
    for own, cross, layer in layers:
        hidden, own.keys, own.values = layer(
            hidden, own.keys, own.values, cross.keys, cross.values, cross_mask, bias, cross_valid
        )
    # The output field has the name the input had: generate reads the cache back from it.
    return Seq2SeqLMOutput(logits=scripted.ends(hidden), **{_output_cache_field(cache_name): cache})


@functools.cache
def _output_cache_field(input_name: str) -> str:
    from transformers.modeling_outputs import Seq2SeqLMOutput

    fields = Seq2SeqLMOutput.__dataclass_fields__
    return input_name if input_name in fields else next(name for name in _CACHE_KWARGS if name in fields)
