"""What every architecture's scripted decoder layers share (``models._speed.arch``), one new token per row.

Each architecture's layers run exactly the ops docsum's int8 path runs for a decoding step,
in the same order and layouts, so logits are bit-equal to transformers' forward: torch's
dynamic int8 Linear kernel on the same packed weights (:class:`Int8Linear`), the caches'
dtype, and ``models._speed.attention._matmul_attention``'s unchunked decoding matmuls
(:func:`attend`). Built from a loaded transformers model; the modules are shared, not copied.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch

from models._speed.int8 import RowScaledInt8Linear, row_scaled_linear


class Int8Linear(torch.nn.Module):  # type: ignore[misc]
    """The forward of torch's dynamic int8 Linear (or docsum's per-row one, ``models._speed.int8``) on the same
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
    """``models._speed.attention._matmul_attention`` for one query per row, unchunked, shaped for the out projection.

    ``bias`` (T5's relative positions) and ``mask`` (the encoder's padding) are added to
    the scores in that order, as there. ``valid``: each document's key count, attended one
    document at a time over those keys alone, as ``models._speed.attention._each_document``.
    """
    rows, heads, length, size = query.shape
    documents = key.shape[0]
    group = rows // documents
    queries = (query * scaling).to(key.dtype).view(documents, group, heads, length, size).transpose(1, 2)
    queries = queries.reshape(documents, heads, group * length, size)
    output = torch.empty((documents, group, length, heads, size), dtype=query.dtype, device=query.device)
    if valid is not None:
        for document, end in enumerate(valid):
            keys = key[document : document + 1, :, :end].contiguous()  # as models._speed.attention._each_document
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


def script(module: torch.nn.Module) -> Any:
    """The module in TorchScript (``torch.jit.script``: deprecated in torch 2.x but still shipped, and measured
    faster here than the alternatives, ``models._speed.decoding_step``)."""
    with warnings.catch_warnings():  # "torch.jit.script is deprecated": measured, and kept
        warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning))
        return torch.jit.script(module.eval())
