"""BART and PEGASUS decoding steps in TorchScript, for int8 models on CPU.

A greedy decoding step of a small batch is a few hundred small ops. Run by
transformers' modules, each op costs Python around it, and with a batch cut in
parts (``models.generation.generate_in_parts``) the parts' threads take turns on
the GIL between ops. Scripted, the same ops run in TorchScript's interpreter,
which holds no GIL: one call per decoder layer, plus the embedding and the LM
head. Measured here (distilbart-cnn-12-6's shape, int8, two parts of 4 rows at
once, 1 thread each): transformers' model forward 25-29 ms a step, the same ops
in plain Python 18-24 ms, scripted 13-15 ms. ``torch.compile`` broke its graph at
every int8 layer and compiled again for each cache length: 24-26 ms.
``torch.jit`` is deprecated in torch 2.x but still shipped; where scripting
fails, transformers' forward stays.

Exactly the ops docsum's path runs for these steps (int8 Linear layers, bf16
key/value caches, ``models.attention``'s decoding matmuls), in the same order and
layouts, so logits are bit-equal (``tests/models/test_decoding_step.py``). Only
plain decoding steps take it: one new token per row, caches transformers' dynamic
ones, no attentions or hidden states asked for; anything else (the first step,
which fills the caches) goes to transformers' forward.
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import Any

import torch

from models import attention

logger = logging.getLogger(__name__)

_SCRIPTED = "_docsum_scripted_step"
# Arguments of a decoding step this path takes into account or that change nothing in it.
_STEP_KWARGS = frozenset(
    {"decoder_input_ids", "past_key_values", "encoder_outputs", "attention_mask", "use_cache", "cache_position"}
)
_QUIET_KWARGS = frozenset({"return_dict", "output_attentions", "output_hidden_states"})


class _DecoderLayer(torch.nn.Module):  # type: ignore[misc]
    """One BART or PEGASUS decoder layer for one new token per row, its attention as ``models.attention`` runs it.

    BART normalizes each block's sum (post-norm); PEGASUS each block's input (pre-norm).
    """

    def __init__(self, layer: Any, pre_norm: bool, relu: bool) -> None:
        super().__init__()
        own, cross = layer.self_attn, layer.encoder_attn
        self.query, self.key, self.value, self.out = (
            _Int8Linear(own.q_proj),
            _Int8Linear(own.k_proj),
            _Int8Linear(own.v_proj),
            _Int8Linear(own.out_proj),
        )
        self.cross_query, self.cross_out = _Int8Linear(cross.q_proj), _Int8Linear(cross.out_proj)
        self.own_norm, self.cross_norm = layer.self_attn_layer_norm, layer.encoder_attn_layer_norm
        self.fc1, self.fc2, self.final_norm = _Int8Linear(layer.fc1), _Int8Linear(layer.fc2), layer.final_layer_norm
        self.heads, self.head_size, self.scaling = own.num_heads, own.head_dim, float(own.scaling)
        self.pre_norm, self.relu = pre_norm, relu

    def forward(
        self,
        hidden: torch.Tensor,
        past_keys: torch.Tensor,
        past_values: torch.Tensor,
        cross_keys: torch.Tensor,
        cross_values: torch.Tensor,
        cross_mask: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = hidden.shape[0]
        split = [rows, 1, self.heads, self.head_size]
        block = self.own_norm(hidden) if self.pre_norm else hidden
        query = self.query(block).view(split).transpose(1, 2)
        key = self.key(block).to(torch.bfloat16).view(split).transpose(1, 2)
        value = self.value(block).to(torch.bfloat16).view(split).transpose(1, 2)
        keys = torch.cat([past_keys, key], dim=-2)  # as transformers' DynamicLayer.update
        values = torch.cat([past_values, value], dim=-2)
        total = hidden + self.out(self._attend(query, keys, values, None))
        hidden = total if self.pre_norm else self.own_norm(total)
        block = self.cross_norm(hidden) if self.pre_norm else hidden
        query = self.cross_query(block).view(split).transpose(1, 2)
        total = hidden + self.cross_out(self._attend(query, cross_keys, cross_values, cross_mask))
        hidden = total if self.pre_norm else self.cross_norm(total)
        block = self.final_norm(hidden) if self.pre_norm else hidden
        inner = self.fc1(block)
        inner = torch.relu(inner) if self.relu else torch.nn.functional.gelu(inner)
        total = hidden + self.fc2(inner)
        hidden = total if self.pre_norm else self.final_norm(total)
        return hidden, keys, values

    def _attend(
        self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None
    ) -> torch.Tensor:
        """``models.attention._matmul_attention`` for one query per row, unchunked, shaped for the out projection."""
        rows, heads, length, size = query.shape
        documents = key.shape[0]
        group = rows // documents
        queries = (query * self.scaling).to(key.dtype).view(documents, group, heads, length, size).transpose(1, 2)
        queries = queries.reshape(documents, heads, group * length, size)
        scores = torch.matmul(queries, key.transpose(-1, -2))
        if mask is not None:
            scores += mask
        attended = torch.matmul(torch.softmax(scores, dim=-1), value)
        output = torch.empty((documents, group, length, heads, size), dtype=query.dtype, device=query.device)
        output.copy_(attended.view(documents, heads, group, length, size).permute(0, 2, 3, 1, 4))
        return output.view(rows, length, heads, size).reshape(rows, length, heads * size).contiguous()


class _Ends(torch.nn.Module):  # type: ignore[misc]
    """The embedding of one new token per row, and the LM head, of ``BartForConditionalGeneration`` or
    ``PegasusForConditionalGeneration`` (whose positions are sinusoidal, from 0, and whose decoder ends in a norm)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        decoder = model.get_decoder()
        self.embeddings = decoder.embed_tokens.weight
        # BART scales inside its embedding module, PEGASUS after it: the same multiplication.
        self.embed_scale = float(getattr(decoder.embed_tokens, "embed_scale", getattr(decoder, "embed_scale", 1.0)))
        self.positions = decoder.embed_positions.weight
        self.position_offset = _position_offset(decoder)
        self.embedding_norm = getattr(decoder, "layernorm_embedding", None) or torch.nn.Identity()
        self.final_norm = getattr(decoder, "layer_norm", None) or torch.nn.Identity()
        self.head = _Int8Linear(model.lm_head)
        self.register_buffer("logits_bias", model.final_logits_bias, persistent=False)

    @torch.jit.export
    def embed(self, tokens: torch.Tensor, position: int) -> torch.Tensor:
        embedded = torch.nn.functional.embedding(tokens, self.embeddings) * self.embed_scale
        where = torch.full((1, 1), position + self.position_offset, dtype=torch.long, device=tokens.device)
        return self.embedding_norm(embedded + torch.nn.functional.embedding(where, self.positions))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(self.final_norm(hidden)) + self.logits_bias


def _position_offset(decoder: Any) -> int:
    """BART's learned positions start at row 2; PEGASUS's sinusoidal ones at row 0."""
    return int(getattr(decoder.embed_positions, "offset", 0))


class _ScriptedStep:
    """One scripted call per decoder layer, so each layer's old self-attention cache is freed as its new one is
    made, as transformers' ``DynamicLayer.update`` does (one call for all six held every old cache to the end:
    0.1-0.17 GiB more at the peak of 16 documents); the Python between the calls is a few lines."""

    def __init__(self, model: Any, pre_norm: bool) -> None:
        self.ends = _script(_Ends(model))
        relu = model.config.activation_function == "relu"
        self.layers = [_script(_DecoderLayer(layer, pre_norm, relu)) for layer in model.get_decoder().layers]


def _script(module: torch.nn.Module) -> Any:
    with warnings.catch_warnings():  # "torch.jit.script is deprecated": measured, and kept (module docstring)
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        return torch.jit.script(module.eval())


class _Int8Linear(torch.nn.Module):  # type: ignore[misc]
    """The forward of torch's dynamic int8 Linear on the same packed weights, without docsum's hooks on it.

    Its own module rather than a new ``torch.ao`` one: that would first allocate and pack
    a weight of its own (the LM head's is 51 MB here).
    """

    def __init__(self, linear: Any) -> None:
        super().__init__()
        from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

        if type(linear) is not DynamicQuantizedLinear or linear._packed_params.dtype != torch.qint8:
            raise TypeError(f"not an int8 dynamic Linear: {type(linear).__name__}")
        self.packed = linear._packed_params._packed_params
        self.reduce_range = linear.version is not None and linear.version >= 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.quantized.linear_dynamic(x, self.packed, reduce_range=self.reduce_range).to(x.dtype)


def script_decoding_steps(model: Any) -> bool:
    """Decoding steps of an int8 BART or PEGASUS model with bf16 caches run scripted; whether they now do.

    For ``BartForConditionalGeneration`` and ``PegasusForConditionalGeneration`` on CPU
    with docsum's attention and bf16 caches (``models.loading.use_shared_kv_attention``);
    other architectures keep transformers' forward.
    """
    from transformers import BartForConditionalGeneration, PegasusForConditionalGeneration

    config = model.config
    eligible = (
        type(model) in (BartForConditionalGeneration, PegasusForConditionalGeneration)
        and config.activation_function in ("gelu", "relu")
        and next(model.parameters()).device.type == "cpu"
    )
    if not eligible:
        return False
    try:
        scripted = _ScriptedStep(model, pre_norm=type(model) is PegasusForConditionalGeneration)
    except (TypeError, RuntimeError, AttributeError) as exc:
        logger.info("decoding steps stay in transformers' forward: %s", exc)
        return False
    setattr(model, _SCRIPTED, scripted)
    forward = model.forward

    @functools.wraps(forward)  # generate reads the signature to pick the arguments it passes
    def stepping(*args: Any, **kwargs: Any) -> Any:
        step = None if args else _step_inputs(model, kwargs)
        if step is None:
            return forward(*args, **kwargs)
        return _run_step(scripted, kwargs["past_key_values"], step)

    model.forward = stepping
    return True


def _step_inputs(model: Any, kwargs: dict[str, Any]) -> tuple[Any, ...] | None:
    """The scripted step's inputs for this forward call, or None where it must go to transformers."""
    from transformers.cache_utils import DynamicLayer, EncoderDecoderCache

    if any(name not in _STEP_KWARGS | _QUIET_KWARGS for name, value in kwargs.items() if value is not None):
        return None
    if kwargs.get("output_attentions") or kwargs.get("output_hidden_states") or kwargs.get("return_dict") is False:
        return None
    tokens: Any = kwargs.get("decoder_input_ids")
    cache: Any = kwargs.get("past_key_values")
    if tokens is None or tokens.dim() != 2 or tokens.shape[1] != 1 or type(cache) is not EncoderDecoderCache:
        return None
    own, cross = cache.self_attention_cache.layers, cache.cross_attention_cache.layers
    decoder = model.get_decoder()
    if (
        len(own) != len(decoder.layers)
        or len(cross) != len(own)
        or not all(cache.is_updated.get(i) for i in range(len(own)))
    ):
        return None
    if any(type(layer) is not DynamicLayer or not layer.is_initialized for layer in (*own, *cross)):
        return None
    if own[0].keys.dtype != torch.bfloat16 or cross[0].keys.dtype != torch.bfloat16:
        return None
    position = own[0].get_seq_length()
    rows, (documents, heads, keys, _) = tokens.shape[0], cross[0].keys.shape
    group = rows // documents
    if position == 0 or rows != group * documents or attention.SCORES_PER_CHUNK // (heads * group * keys) < documents:
        return None  # models.attention would cut this in chunks: its order of ops, not this one
    if position + _position_offset(decoder) >= decoder.embed_positions.num_embeddings:
        return None  # past the learned positions: transformers raises its own error
    mask = kwargs.get("attention_mask")
    if mask is not None and (mask.dim() != 2 or tuple(mask.shape) != (documents, keys)):
        return None
    return tokens, position, None if mask is None else _cross_bias(mask)


def _cross_bias(attention_mask: torch.Tensor) -> torch.Tensor | None:
    """The encoder's padding as the bf16 bias ``models.attention`` adds to cross-attention scores; None without padding.

    Made once per ``generate`` call: every step gets the same mask tensor.
    """
    if not hasattr(attention_mask, "_docsum_cross_bias"):
        valid = attention_mask.bool()[:, None, None, :]
        # No padding: transformers makes no mask (adding zeros would change nothing either).
        padded = not bool(valid.all())
        attention_mask._docsum_cross_bias = attention._additive(valid, torch.bfloat16) if padded else None
    bias: torch.Tensor | None = attention_mask._docsum_cross_bias
    return bias


def _run_step(scripted: _ScriptedStep, cache: Any, step: tuple[Any, ...]) -> Any:
    from transformers.modeling_outputs import Seq2SeqLMOutput

    tokens, position, cross_mask = step
    hidden = scripted.ends.embed(tokens, position)
    layers = zip(cache.self_attention_cache.layers, cache.cross_attention_cache.layers, scripted.layers, strict=True)
    for own, cross, layer in layers:
        hidden, own.keys, own.values = layer(hidden, own.keys, own.values, cross.keys, cross.values, cross_mask)
    return Seq2SeqLMOutput(logits=scripted.ends(hidden), past_key_values=cache)
