"""SDPA attention that reads keys and values shared by several rows only once.

In beam search every beam of a document attends to the same encoder keys and
values, copied once per beam (``generate`` expands the encoder output). Decoding
one token at a time, cross-attention is bound by memory: each step reads all of
those copies (about 16 MB per layer for 4 documents x 4 beams of 500 tokens in
fp32). Here a decoding step whose keys, values and mask are equal across groups
of consecutive rows asks SDPA once per group instead, the group's queries side
by side: the same attention, reading a group's keys and values once. The check
is exact (``torch.equal``), done once per cached tensor for cross-attention (its
keys stay the same object from step to step, see
:func:`models.loading.skip_cross_attention_reorder`), and cheaply rejected for
self-attention, whose beams differ. Anything else goes to transformers' SDPA
unchanged.

Registered under :data:`NAME` with transformers' ``AttentionInterface``;
:func:`models.loading.load_model_and_tokenizer` selects it for reduced-precision
models (plain fp32 stays exactly transformers' SDPA).
"""

from __future__ import annotations

from typing import Any

import torch

NAME = "docsum_sdpa"
_MAX_GROUP = 64


def shared_kv_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    group = _group_size(query, key, value, attention_mask)
    if group == 1:
        output: tuple[torch.Tensor, None] = sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
        return output
    rows, heads, _, dim = query.shape
    groups = rows // group
    unique_key, unique_value = key._docsum_unique
    grouped_query = query.transpose(1, 2).reshape(groups, group, heads, dim).transpose(1, 2)
    mask = attention_mask[::group] if attention_mask is not None else None
    kwargs["is_causal"] = False
    grouped, _ = sdpa_attention_forward(module, grouped_query, unique_key, unique_value, mask, **kwargs)
    # grouped: (groups, group, heads, dim), the layout sdpa_attention_forward returns (query length second).
    return grouped.reshape(rows, 1, heads, dim), None


def _group_size(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, attention_mask: torch.Tensor | None
) -> int:
    """How many consecutive rows share keys, values and mask (1: none do, or not a decoding step)."""
    rows = key.shape[0]
    if query.shape[2] != 1 or rows < 2 or key.shape[0] != query.shape[0]:
        return 1
    known = getattr(key, "_docsum_group", None)
    if known is not None and getattr(key, "_docsum_value", None) is value:
        return int(known)
    group = 1
    for size in range(min(rows, _MAX_GROUP), 1, -1):
        if rows % size == 0 and _shared(key, size) and _shared(value, size) and _mask_shared(attention_mask, size):
            group = size
            break
    key._docsum_group = group
    key._docsum_value = value
    if group > 1:
        key._docsum_unique = (key[::group].contiguous(), value[::group].contiguous())
    return group


def _shared(tensor: torch.Tensor, size: int) -> bool:
    grouped = tensor.reshape(tensor.shape[0] // size, size, -1)
    last = tensor[:, :, -1].reshape(tensor.shape[0] // size, size, -1)  # cheap rejection first
    if not torch.equal(last[:, 1:], last[:, :1].expand_as(last[:, 1:])):
        return False
    return bool(torch.equal(grouped[:, 1:], grouped[:, :1].expand_as(grouped[:, 1:])))


def _mask_shared(mask: torch.Tensor | None, size: int) -> bool:
    if mask is None:
        return True
    if mask.shape[0] == 1:
        return True
    return _shared(mask, size)


def register() -> str:
    """Make :data:`NAME` known to transformers, masks made as for SDPA (without, padding would be ignored)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, shared_kv_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
