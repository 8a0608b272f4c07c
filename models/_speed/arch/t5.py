"""T5's fast path (t5's relu and flan-T5's gated-GELU): the scripted decoding step with fp32 caches, and
``gelu_new`` as one fused kernel.

T5's caches stay fp32: its attention scores are not scaled by 1/sqrt(head size), and in
bf16 they lost 16-58% of the tiny checkpoint's logit range (tests/models).
"""

from __future__ import annotations

from typing import Any

import torch

from models._speed.arch import Architecture, ScriptedParts
from models._speed.scripted_layers import Int8Linear, attend, script

ACTIVATIONS = ("relu", "gelu_new")  # t5's and flan-T5's


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


def scripted_parts(model: Any) -> ScriptedParts | None:
    """The scripted step's parts for ``T5ForConditionalGeneration``; None for another head or activation."""
    if type(model).__name__ != "T5ForConditionalGeneration" or model.config.dense_act_fn not in ACTIVATIONS:
        return None
    decoder = model.get_decoder()
    return ScriptedParts(
        ends=script(T5Ends(model)),
        layers=[script(T5DecoderLayer(block)) for block in decoder.block],
        cache_dtype=torch.float32,
        positions=None,
        position_bias=decoder.block[0].layer[0].SelfAttention.compute_bias,
    )


class FusedTanhGelu(torch.nn.Module):  # type: ignore[misc]
    """``gelu_new`` (T5 v1.1's and flan-T5's gated-GELU) as torch's one fused kernel for its tanh approximation.

    transformers' ``NewGELUActivation`` spells the same formula as eight elementwise ops;
    one kernel gives it up to float rounding (2.4e-7 at most on 2M normal values) in a
    third of the time: 3.3 against 11-12 ms for 960 x 2048 fp32 values, 1 thread.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.gelu(x, approximate="tanh")


def fuse_tanh_gelu(model: Any) -> int:
    """Every ``NewGELUActivation`` of the model becomes :class:`FusedTanhGelu` (a module swap); how many did."""
    from transformers.activations import NewGELUActivation

    owners = [module for module in model.modules() if isinstance(getattr(module, "act", None), NewGELUActivation)]
    for owner in owners:
        owner.act = FusedTanhGelu()
    return len(owners)


def _prepare(model: Any) -> None:
    fuse_tanh_gelu(model)


ARCHITECTURE = Architecture("T5", scripted_parts, bf16_projections=None, prepare=_prepare)
