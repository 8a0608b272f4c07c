"""The decoder layers and ends that ``models.decoding_step`` scripts, one new token per row.

Each runs exactly the ops docsum's int8 path runs for a decoding step, in the same order
and layouts, so logits are bit-equal to transformers' forward: torch's dynamic int8
Linear kernel on the same packed weights, the caches' dtype, and
``models.attention._matmul_attention``'s unchunked decoding matmuls (:func:`attend`).
Built from a loaded transformers model; the modules are shared, not copied.
"""

from __future__ import annotations

from typing import Any

import torch

from models.invariance import RowScaledInt8Linear, row_scaled_linear


class Int8Linear(torch.nn.Module):  # type: ignore[misc]
    """The forward of torch's dynamic int8 Linear (or docsum's per-row one, ``models.invariance``) on the same
    packed weights, without docsum's hooks on it.

    Its own module rather than a new ``torch.ao`` one: that would first allocate and pack
    a weight of its own (the LM head's is 51 MB here).
    """

    def __init__(self, linear: Any) -> None:
        super().__init__()
        from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

        if (
            type(linear) not in (DynamicQuantizedLinear, RowScaledInt8Linear)
            or linear._packed_params.dtype != torch.qint8
        ):
            raise TypeError(f"not an int8 dynamic Linear: {type(linear).__name__}")
        self.packed = linear._packed_params._packed_params
        self.reduce_range = linear.version is not None and linear.version >= 4
        self.per_row = type(linear) is RowScaledInt8Linear
        self.bias: torch.Tensor | None = linear.bias() if self.per_row else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.per_row:
            return row_scaled_linear(x, self.packed, self.bias, self.reduce_range).to(x.dtype)
        return torch.ops.quantized.linear_dynamic(x, self.packed, reduce_range=self.reduce_range).to(x.dtype)


def attend(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    scaling: float,
    bias: torch.Tensor | None,
    mask: torch.Tensor | None,
    valid: list[int] | None = None,
) -> torch.Tensor:
    """``models.attention._matmul_attention`` for one query per row, unchunked, shaped for the out projection.

    ``bias`` (T5's relative positions) and ``mask`` (the encoder's padding) are added to
    the scores in that order, as there. ``valid``: each document's key count, attended one
    document at a time over those keys alone, as ``models.attention._each_document``.
    """
    rows, heads, length, size = query.shape
    documents = key.shape[0]
    group = rows // documents
    queries = (query * scaling).to(key.dtype).view(documents, group, heads, length, size).transpose(1, 2)
    queries = queries.reshape(documents, heads, group * length, size)
    output = torch.empty((documents, group, length, heads, size), dtype=query.dtype, device=query.device)
    if valid is not None:
        for document, end in enumerate(valid):
            keys = key[document : document + 1, :, :end].contiguous()  # as models.attention._each_document
            scores = torch.matmul(queries[document : document + 1], keys.transpose(-1, -2))
            values = value[document : document + 1, :, :end].contiguous()
            attended = torch.matmul(torch.softmax(scores, dim=-1), values)
            output[document] = attended.view(heads, group, length, size).permute(1, 2, 0, 3)
        return output.view(rows, length, heads, size).reshape(rows, length, heads * size).contiguous()
    scores = torch.matmul(queries, key.transpose(-1, -2))
    if bias is not None:
        scores += bias
    if mask is not None:
        scores += mask
    attended = torch.matmul(torch.softmax(scores, dim=-1), value)
    output.copy_(attended.view(documents, heads, group, length, size).permute(0, 2, 3, 1, 4))
    return output.view(rows, length, heads, size).reshape(rows, length, heads * size).contiguous()


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


class T5DecoderLayer(torch.nn.Module):  # type: ignore[misc]
    """One T5 decoder block (t5's relu or flan-T5's gated-GELU feed-forward); fp32 caches.

    Pre-norm with T5's RMS norms, unscaled scores, and the relative position bias added
    to the self-attention scores (the first block's, shared by all: the caller's).
    """

    def __init__(self, block: Any) -> None:
        super().__init__()
        own_layer, cross_layer, ff_layer = block.layer
        own, cross, dense = own_layer.SelfAttention, cross_layer.EncDecAttention, ff_layer.DenseReluDense
        self.query, self.key, self.value, self.out = (
            Int8Linear(own.q),
            Int8Linear(own.k),
            Int8Linear(own.v),
            Int8Linear(own.o),
        )
        self.cross_query, self.cross_out = Int8Linear(cross.q), Int8Linear(cross.o)
        self.own_norm, self.cross_norm, self.ff_norm = own_layer.layer_norm, cross_layer.layer_norm, ff_layer.layer_norm
        self.gated = hasattr(dense, "wi_0")
        self.wi = Int8Linear(dense.wi_0 if self.gated else dense.wi)
        self.wi_linear = Int8Linear(dense.wi_1) if self.gated else None
        self.wo, self.act = Int8Linear(dense.wo), dense.act
        self.heads, self.head_size, self.scaling = own.n_heads, own.key_value_proj_dim, float(own.scaling)

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
        block = self.own_norm(hidden)
        query = self.query(block).view(split).transpose(1, 2)
        keys = torch.cat([past_keys, self.key(block).view(split).transpose(1, 2)], dim=-2)
        values = torch.cat([past_values, self.value(block).view(split).transpose(1, 2)], dim=-2)
        hidden = hidden + self.out(attend(query, keys, values, self.scaling, position_bias, None))
        block = self.cross_norm(hidden)
        query = self.cross_query(block).view(split).transpose(1, 2)
        # transformers adds a zero bias to cross-attention scores first: x + 0 is x.
        hidden = hidden + self.cross_out(
            attend(query, cross_keys, cross_values, self.scaling, None, cross_mask, cross_valid)
        )
        block = self.ff_norm(hidden)
        inner = self.act(self.wi(block))
        wi_linear = self.wi_linear
        inner = inner * wi_linear(block) if wi_linear is not None else inner  # flan-T5's gate
        return hidden + self.wo(inner), keys, values


class T5Ends(torch.nn.Module):  # type: ignore[misc]
    """The embedding of one new token per row, and the LM head, of ``T5ForConditionalGeneration``."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        decoder = model.get_decoder()
        self.embeddings = decoder.embed_tokens.weight
        self.final_norm = decoder.final_layer_norm
        # A head tied to the embedding reads the decoder's output scaled down (t5; flan-T5 has its own head).
        self.output_scale = float(model.model_dim**-0.5) if model.config.scale_decoder_outputs else 1.0
        self.head = Int8Linear(model.lm_head)

    @torch.jit.export
    def embed(self, tokens: torch.Tensor, position: int) -> torch.Tensor:  # BartEnds.embed's signature
        return torch.nn.functional.embedding(tokens, self.embeddings)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.final_norm(hidden)
        if self.output_scale != 1.0:
            hidden = hidden * self.output_scale
        return self.head(hidden)
