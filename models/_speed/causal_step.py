"""A Llama-family decoder layer for one decoding step, in TorchScript: :func:`step_layers`.

A decoding step of SmolLM2-135M is about 4,000 small ops for 8 rows (30 layers, each row's
attention alone for batch invariance); run from Python, the two parts of a CPU batch
(``models._speed.generation.generate_in_parts``) take turns on the GIL between ops. Scripted,
each layer is one call into TorchScript's interpreter, which holds no GIL. The same module runs
eagerly where scripting fails, with the same ops, so outputs do not depend on which ran.

Rows are 2-D here (rows, hidden): one new token per row. Float products go in fixed blocks of
rows as ``models._speed.causal.multiply_in_row_blocks`` multiplies them (batch invariance), int8
ones through torch's kernels on the model's packed weights (``models._speed.scripted_layers``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Union  # noqa: UP035 (TorchScript reads typing's names)

import torch
import torch.nn.functional as F

from models._speed.scripted_layers import Int8Linear, script


class FloatProduct(torch.nn.Module):  # type: ignore[misc]
    """A float Linear's product in blocks of ``block`` rows, each padded with zeros (0: whole), on a copy of its
    weight packed once for oneDNN (:func:`packed_weight`): oneDNN otherwise reorders the weight on every call,
    which for a decoding step's few rows costs more than the product (SmolLM2's LM head, 16 rows, one thread:
    3.2-3.6 ms packed against 8.7-9.0 ms; its 576 x 1536 layers 124-155 us against 190-240; the same results)."""

    def __init__(self, linear: Any, block: int) -> None:
        super().__init__()
        self.packed = packed_weight(linear.weight, block or 16)
        self.bias: torch.Tensor | None = linear.bias
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.block == 0:
            return self.product(x)
        count = x.shape[0]
        padded = F.pad(x, [0, 0, 0, (self.block - count % self.block) % self.block])
        blocks = [self.product(padded[first : first + self.block]) for first in range(0, padded.shape[0], self.block)]
        return (blocks[0] if len(blocks) == 1 else torch.cat(blocks))[:count]

    def product(self, x: torch.Tensor) -> torch.Tensor:
        # No post-op arguments; spelled with typing's names, which TorchScript reads.
        no_scalars = torch.jit.annotate(List[Optional[Union[int, float, complex]]], [])  # noqa: UP006, UP007, UP045
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", no_scalars, "")


def packed_weight(weight: torch.Tensor, rows: int) -> torch.Tensor:
    """The weight reordered for oneDNN's products of ``rows`` rows (torch's own op, which inductor uses)."""
    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Llama's RMSNorm (in fp32, rounded back, times the weight) with torch's fused kernel."""
    normed = torch.rms_norm(x.to(torch.float32), [x.shape[-1]], None, eps)
    return weight * normed.to(x.dtype)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary positions, as transformers' apply_rotary_pos_emb (rotate_half)."""
    half = x.shape[-1] // 2
    return x * cos + torch.cat((-x[..., half:], x[..., :half]), dim=-1) * sin


class StepLayer(torch.nn.Module):  # type: ignore[misc]
    """One decoder layer for one new token per row; keys and values written into the reserved room at ``position``,
    each row attending over its own keys from ``starts[row]``."""

    def __init__(self, layer: Any, block: int) -> None:
        super().__init__()
        attention, mlp = layer.self_attn, layer.mlp
        self.q, self.k, self.v, self.o = (
            _product(attention.q_proj, block),
            _product(attention.k_proj, block),
            _product(attention.v_proj, block),
            _product(attention.o_proj, block),
        )
        self.gate, self.up, self.down = (
            _product(mlp.gate_proj, block),
            _product(mlp.up_proj, block),
            _product(mlp.down_proj, block),
        )
        before, after = layer.input_layernorm, layer.post_attention_layernorm
        self.attention_norm, self.attention_eps = before.weight, float(before.variance_epsilon)
        self.mlp_norm, self.mlp_eps = after.weight, float(after.variance_epsilon)
        q_norm, k_norm = getattr(attention, "q_norm", None), getattr(attention, "k_norm", None)  # Qwen3
        self.q_norm: torch.Tensor | None = None if q_norm is None else q_norm.weight
        self.k_norm: torch.Tensor | None = None if k_norm is None else k_norm.weight
        self.head_eps = 1e-6 if q_norm is None else float(q_norm.variance_epsilon)
        self.depth = int(attention.head_dim)
        self.scaling = float(attention.scaling)

    def forward(
        self,
        hidden: torch.Tensor,
        cos: torch.Tensor,
        sin: torch.Tensor,
        key_room: torch.Tensor,
        value_room: torch.Tensor,
        position: int,
        starts: list[int],
    ) -> torch.Tensor:
        rows = hidden.shape[0]
        x = rms_norm(hidden, self.attention_norm, self.attention_eps)
        q = self.q(x).view(rows, -1, self.depth)
        k = self.k(x).view(rows, -1, self.depth)
        v = self.v(x).view(rows, -1, self.depth)
        q_norm, k_norm = self.q_norm, self.k_norm
        if q_norm is not None and k_norm is not None:
            q, k = rms_norm(q, q_norm, self.head_eps), rms_norm(k, k_norm, self.head_eps)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        key_room[:, :, position] = k
        value_room[:, :, position] = v
        out = torch.empty_like(q)
        gqa = key_room.shape[1] != q.shape[1]
        for row in range(rows):
            first = starts[row]
            attended = F.scaled_dot_product_attention(
                q[row : row + 1, :, None],
                key_room[row : row + 1, :, first : position + 1],
                value_room[row : row + 1, :, first : position + 1],
                scale=self.scaling,
                enable_gqa=gqa,
            )
            out[row] = attended[0, :, 0]
        hidden = hidden + self.o(out.view(rows, -1))
        x = rms_norm(hidden, self.mlp_norm, self.mlp_eps)
        return hidden + self.down(F.silu(self.gate(x)) * self.up(x))


def _product(linear: Any, block: int) -> torch.nn.Module:
    if type(linear) is torch.nn.Linear:
        return FloatProduct(linear, block)
    return Int8Linear(linear)  # anything else is refused there (TypeError)


@dataclass(frozen=True)
class StepModules:
    """A model's decoder layers and LM head for decoding steps; ``unscripted``: why they run eagerly, or None."""

    layers: list[Any]
    head: Any
    unscripted: str | None


def step_modules(model: Any, *, block: int) -> StepModules:
    """The model's decoder layers and LM head for decoding steps, scripted (eager where scripting fails)."""
    layers = [StepLayer(layer, block).eval() for layer in model.model.layers]
    head = _product(model.lm_head, block).eval()
    try:
        return StepModules([script(layer) for layer in layers], script(head), None)
    except (RuntimeError, TypeError, AttributeError) as exc:  # TorchScript's compile errors are RuntimeErrors
        return StepModules(layers, head, f"scripting failed: {str(exc).splitlines()[0]}")
