"""BART's fast path (and the layers PEGASUS shares): the scripted decoding step, bf16 key/value caches.

The decoder layer and ends run exactly the ops docsum's int8 path runs for a decoding
step, in the same order and layouts, so logits are bit-equal to transformers' forward
(``tests/models/speed/test_decoding_step.py``). BART normalizes each block's sum
(post-norm), PEGASUS each block's input (pre-norm): one layer, a flag apart.
"""

from __future__ import annotations

from typing import Any

import torch

from models._speed.arch import Architecture, ScriptedParts
from models._speed.scripted_layers import Int8Linear, attend, script

# The feed-forward activations a scripted layer has.
ACTIVATIONS = ("gelu", "relu")


class BartDecoderLayer(torch.nn.Module):  # type: ignore[misc]
    """One BART or PEGASUS decoder layer; bf16 caches.

    BART normalizes each block's sum (post-norm); PEGASUS each block's input (pre-norm).
    """

    def __init__(self, layer: Any, pre_norm: bool, relu: bool) -> None:
        super().__init__()
        own, cross = layer.self_attn, layer.encoder_attn
        self.query, self.key, self.value, self.out = (
            Int8Linear(own.q_proj),
            Int8Linear(own.k_proj),
            Int8Linear(own.v_proj),
            Int8Linear(own.out_proj),
        )
        self.cross_query, self.cross_out = Int8Linear(cross.q_proj), Int8Linear(cross.out_proj)
        self.own_norm, self.cross_norm = layer.self_attn_layer_norm, layer.encoder_attn_layer_norm
        self.fc1, self.fc2, self.final_norm = Int8Linear(layer.fc1), Int8Linear(layer.fc2), layer.final_layer_norm
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
        position_bias: torch.Tensor | None,
        cross_valid: list[int] | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rows = hidden.shape[0]
        split = [rows, 1, self.heads, self.head_size]
        block = self.own_norm(hidden) if self.pre_norm else hidden
        query = self.query(block).view(split).transpose(1, 2)
        key = self.key(block).to(torch.bfloat16).view(split).transpose(1, 2)
        value = self.value(block).to(torch.bfloat16).view(split).transpose(1, 2)
        keys = torch.cat([past_keys, key], dim=-2)  # as transformers' DynamicLayer.update
        values = torch.cat([past_values, value], dim=-2)
        total = hidden + self.out(attend(query, keys, values, self.scaling, None, None))
        hidden = total if self.pre_norm else self.own_norm(total)
        block = self.cross_norm(hidden) if self.pre_norm else hidden
        query = self.cross_query(block).view(split).transpose(1, 2)
        total = hidden + self.cross_out(
            attend(query, cross_keys, cross_values, self.scaling, None, cross_mask, cross_valid)
        )
        hidden = total if self.pre_norm else self.cross_norm(total)
        block = self.final_norm(hidden) if self.pre_norm else hidden
        inner = self.fc1(block)
        inner = torch.relu(inner) if self.relu else torch.nn.functional.gelu(inner)
        total = hidden + self.fc2(inner)
        hidden = total if self.pre_norm else self.final_norm(total)
        return hidden, keys, values


class BartEnds(torch.nn.Module):  # type: ignore[misc]
    """The embedding of one new token per row, and the LM head, of ``BartForConditionalGeneration`` or
    ``PegasusForConditionalGeneration`` (whose positions are sinusoidal, from 0, and whose decoder ends in a norm)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        decoder = model.get_decoder()
        self.embeddings = decoder.embed_tokens.weight
        # BART scales inside its embedding module, PEGASUS after it: the same multiplication.
        self.embed_scale = float(getattr(decoder.embed_tokens, "embed_scale", getattr(decoder, "embed_scale", 1.0)))
        self.positions = decoder.embed_positions.weight
        self.position_offset = position_offset(decoder)
        self.embedding_norm = getattr(decoder, "layernorm_embedding", None) or torch.nn.Identity()
        self.final_norm = getattr(decoder, "layer_norm", None) or torch.nn.Identity()
        self.head = Int8Linear(model.lm_head)
        self.register_buffer("logits_bias", model.final_logits_bias, persistent=False)

    @torch.jit.export
    def embed(self, tokens: torch.Tensor, position: int) -> torch.Tensor:
        embedded = torch.nn.functional.embedding(tokens, self.embeddings) * self.embed_scale
        where = torch.full((1, 1), position + self.position_offset, dtype=torch.long, device=tokens.device)
        return self.embedding_norm(embedded + torch.nn.functional.embedding(where, self.positions))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.head(self.final_norm(hidden)) + self.logits_bias


def position_offset(decoder: Any) -> int:
    """BART's learned positions start at row 2; PEGASUS's sinusoidal ones at row 0."""
    return int(getattr(decoder.embed_positions, "offset", 0))


def scripted_parts(
    model: Any, head_class: str = "BartForConditionalGeneration", *, pre_norm: bool = False
) -> ScriptedParts | None:
    """The scripted step's parts for a BART-family model of ``head_class``; None for another head or activation."""
    if type(model).__name__ != head_class or model.config.activation_function not in ACTIVATIONS:
        return None
    decoder = model.get_decoder()
    relu = model.config.activation_function == "relu"
    return ScriptedParts(
        ends=script(BartEnds(model)),
        layers=[script(BartDecoderLayer(layer, pre_norm, relu)) for layer in decoder.layers],
        cache_dtype=torch.bfloat16,
        positions=decoder.embed_positions.num_embeddings - position_offset(decoder),
    )


ARCHITECTURE = Architecture("BART", scripted_parts, bf16_projections=("k_proj", "v_proj"))
