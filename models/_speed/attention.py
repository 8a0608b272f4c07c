"""Attention for encoder-decoder generation on CPU, for models on transformers' SDPA.

Registered under :data:`NAME` with transformers' ``AttentionInterface`` for
reduced-precision models, and batch-invariant fp32 ones (``models._speed.invariance``; plain fp32
keeps exactly transformers' SDPA). The registration (:func:`register`) happens when such a model
loads, never on import; it is transformers' extension point for attention and adds a name,
which no other model uses unless it asks for it:

* **Beams query their document's keys and values together.** With one copy of the
  encoder output per document (``models._speed.patches.share_encoder_outputs_across_beams``)
  cross-attention keys and values have one row per document and the query one per
  beam; a document's beams are asked as its queries side by side.
* **Decoding steps as two small matmuls** in the cache's dtype. One query per row
  against a cache is memory-bound; torch's CPU SDPA kernel runs it at a fraction of
  the bandwidth (bf16: 15 ms against 2.7 ms as matmuls for 16 rows x 500 keys x 16
  heads, 1 thread).
* **bf16 for int8 models** (:func:`attend_in_bf16`; their activations are fp32):
  decoder key/value caches in bf16 (decoding reads 6 layers x documents x input
  length x 1024 keys and values per step: half the bytes), and the encoder's
  self-attention as bf16 matmuls, one document at a time, right padding cut off.

Anything else (causal prefill, dropout, grouped-query heads, unknown arguments, other
devices) goes to transformers' SDPA unchanged.
"""

from __future__ import annotations

from typing import Any

import torch

NAME = "docsum_sdpa"
# Query positions per document (beams x new tokens) up to which a call counts as a decoding step.
_DECODING_QUERIES = 64
# Attention scores computed at once (elements): one document's 16 heads x 500 x 500 (fewer
# heads at a time measured no faster).
SCORES_PER_CHUNK = 1 << 22
# Arguments the matmul path takes into account, or that do not change attention (SDPA ignores
# them too); with any other set, transformers' SDPA runs.
_HANDLED_KWARGS = frozenset({"dropout", "scaling", "is_causal", "position_bias"})
_IGNORED_KWARGS = frozenset(
    {"use_cache", "output_attentions", "output_hidden_states", "cache_position", "position_ids"}
)
_BF16_FLAG = "_docsum_attention_in_bf16"
# Set on attention modules whose masked calls run one document at a time (models._speed.invariance): True, or
# "encoder" for the encoder's own.
PER_DOCUMENT_FLAG = "_docsum_attention_per_document"


def docsum_sdpa(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    rows, _, length, _ = query.shape
    group = rows // key.shape[0]  # the beams of one document share its keys and values
    causal = bool(kwargs.get("is_causal", getattr(module, "is_causal", False))) and length > 1
    unhandled = [n for n, v in kwargs.items() if _is_set(v) and n not in _HANDLED_KWARGS | _IGNORED_KWARGS]
    same_heads = key.shape[1] == query.shape[1]  # grouped-query attention goes to SDPA
    plain = query.device.type == "cpu" and same_heads and not (causal or unhandled or kwargs.get("dropout"))
    # The flag is "encoder" on the encoder's self-attention: a short document is no decoding step there.
    invariant = getattr(module, PER_DOCUMENT_FLAG, False)
    decoding = group * length <= _DECODING_QUERIES and invariant != "encoder"
    in_bf16 = getattr(module, _BF16_FLAG, False)
    if plain and (decoding or in_bf16 or invariant):
        # Decoding steps in the cache's dtype; longer inputs (the encoder) in bf16 where asked.
        dtype = key.dtype if decoding else torch.bfloat16 if in_bf16 else query.dtype
        bias = kwargs.get("position_bias")  # T5's relative positions, added to the scores
        # The encoder's always (a lone document has no mask), other masked calls too (cross-attention).
        per_document = invariant == "encoder" or (bool(invariant) and attention_mask is not None)
        scaling = kwargs.get("scaling")
        return _matmul_attention(query, key, value, attention_mask, bias, scaling, dtype, per_document), None
    if group > 1:
        key, value = key.repeat_interleave(group, dim=0), value.repeat_interleave(group, dim=0)
        if attention_mask is not None and attention_mask.shape[0] > 1:
            attention_mask = attention_mask.repeat_interleave(group, dim=0)
    output: tuple[torch.Tensor, None] = sdpa_attention_forward(
        module, query, key.to(query.dtype), value.to(query.dtype), attention_mask, **kwargs
    )
    return output


def _is_set(value: object) -> bool:
    return value is not None and value is not False


def _matmul_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    bias: torch.Tensor | None,
    scaling: float | None,
    dtype: torch.dtype,
    per_document: bool = False,
) -> torch.Tensor:
    """softmax(q k^T + bias) v as matmuls in ``dtype`` (softmax accumulated in fp32), a few documents at a time.

    ``query`` is (documents x group, heads, length, dim): a document's beams are its
    queries side by side; ``key`` and ``value`` (documents, heads, keys, dim); masks
    and biases (rows, documents or 1; heads or 1; length or 1; keys) as transformers
    makes them for SDPA. Returns (documents x group, length, heads, dim) in the
    query's dtype, the layout transformers' attention functions return.
    ``per_document``: one document at a time, its padding cut off (:func:`_each_document`).
    """
    rows, heads, length, dim = query.shape
    documents, _, keys, _ = key.shape
    group = rows // documents
    scale = dim**-0.5 if scaling is None else scaling
    queries = (query * scale).to(dtype).view(documents, group, heads, length, dim).transpose(1, 2)
    queries = queries.reshape(documents, heads, group * length, dim)
    mask = None if mask is None else _per_document(mask, documents, group, length)
    bias = None if bias is None else _per_document(bias, documents, group, length)
    output = torch.empty((documents, group, length, heads, dim), dtype=query.dtype, device=query.device)
    step = 1 if per_document else max(1, SCORES_PER_CHUNK // (heads * group * length * keys))
    # One document at a time (long inputs): a right-padding mask becomes shorter keys, no masking.
    valid = _valid_key_counts(mask, documents) if step == 1 and (bias is None or per_document) else None
    if per_document and mask is None:
        valid = [keys] * documents
    if mask is not None and valid is None:  # added to the scores: half the time of masked_fill
        mask = _additive(mask, dtype)
    if per_document and valid is not None:
        _each_document(queries, key, value, bias, valid, output)
        return output.view(rows, length, heads, dim)
    if step >= documents and valid is None:  # every decoding step: one chunk, no slicing (hundreds of ops a step)
        attended = _attend(queries, key, value, mask, bias, dtype)
        output.copy_(attended.view(documents, heads, group, length, dim).permute(0, 2, 3, 1, 4))
        return output.view(rows, length, heads, dim)
    for first in range(0, documents, step):
        chunk = slice(first, first + step)
        end = keys if valid is None else valid[first]
        attended = _attend(
            queries[chunk],
            key[chunk, :, :end],
            value[chunk, :, :end],
            None if mask is None or valid is not None else _rows(mask, chunk),
            None if bias is None else _rows(bias, chunk),
            dtype,
        )
        output[chunk] = attended.view(-1, heads, group, length, dim).permute(0, 2, 3, 1, 4)
    return output.view(rows, length, heads, dim)


def _each_document(
    queries: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    bias: torch.Tensor | None,
    valid: list[int],
    output: torch.Tensor,
) -> None:
    """Attention one document at a time over its own keys only, so that its batchmates' padding changes nothing.

    Padded keys weigh exactly 0, yet a longer row of scores is summed in another order
    (float rounding); the same goes for more query rows in a matrix product, so in
    self-attention (as many queries as keys, one group) the padded queries are cut off
    too and their outputs are zeros: nothing reads them.
    """
    heads, dim = queries.shape[1], queries.shape[3]
    group, length = output.shape[1], output.shape[2]
    self_attention = group == 1 and length == key.shape[2]
    for document, end in enumerate(valid):
        used = end if self_attention else length
        asked = slice(None, used if self_attention else None)  # the query rows kept
        one = slice(document, document + 1)
        attended = _attend(
            queries[one, :, asked],
            # Dense copies: bf16 matmuls of slices took a slow path (0.49 against 0.07 + 0.06 ms to copy).
            key[one, :, :end].to(queries.dtype).contiguous(),
            value[one, :, :end].to(queries.dtype).contiguous(),
            None,
            None if bias is None else _rows(bias, one)[:, :, asked, :end],
            queries.dtype,
        )
        output[document, :, :used] = attended.view(heads, group, used, dim).permute(1, 2, 0, 3)
        if used < length:
            output[document, :, used:] = 0


def _attend(
    queries: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    bias: torch.Tensor | None,
    dtype: torch.dtype,
) -> torch.Tensor:
    scores = torch.matmul(queries, key.to(dtype).transpose(-1, -2))
    if bias is not None:
        scores += bias.to(dtype)
    if mask is not None:
        scores += mask
    return torch.matmul(torch.softmax(scores, dim=-1), value.to(dtype))


def _valid_key_counts(mask: torch.Tensor | None, documents: int) -> list[int] | None:
    """Per document, how many leading keys a right-padding mask lets through; None for any other mask.

    Worked out once per mask: all layers of a forward pass share the same mask tensor.
    """
    if mask is None or mask.dtype != torch.bool or mask.shape[1] != 1:
        return None
    if not hasattr(mask, "_docsum_valid_keys"):
        counts = _prefix_counts(mask)
        if counts is not None and len(counts) == 1:
            counts = counts * documents  # one mask for all documents
        mask._docsum_valid_keys = counts
    known: list[int] | None = mask._docsum_valid_keys
    return known


def _prefix_counts(mask: torch.Tensor) -> list[int] | None:
    counts = []
    for rows in mask[:, 0]:  # (length or 1, keys) per document
        row = rows[0]
        count = int(row.sum())
        if count == 0 or not bool(row[:count].all()) or not torch.equal(rows, row.expand_as(rows)):
            return None
        counts.append(count)
    return counts


def _additive(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The mask as a bias added to the scores; made once per mask, which all layers of a forward pass share."""
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    made: dict[torch.dtype, torch.Tensor] = mask.__dict__.setdefault("_docsum_additive", {})
    if dtype not in made:
        made[dtype] = torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill_(~mask, float("-inf"))
    return made[dtype]


def _rows(tensor: torch.Tensor, chunk: slice) -> torch.Tensor:
    return tensor if tensor.shape[0] == 1 else tensor[chunk]


def _per_document(tensor: torch.Tensor, documents: int, group: int, length: int) -> torch.Tensor:
    """A (rows, documents or 1; heads or 1; length or 1; keys) mask or bias laid out like the grouped scores."""
    if group == 1:
        return tensor
    if tensor.shape[0] not in (1, documents):  # one per beam: the beams of a document share it
        tensor = tensor[::group]
    if tensor.shape[2] != 1:  # one per query position: the same for each beam of the group
        batch, heads, _, keys = tensor.shape
        tensor = tensor.unsqueeze(2).expand(-1, -1, group, -1, -1).reshape(batch, heads, group * length, keys)
    return tensor


def attend_in_bf16(model: Any, projections: tuple[str, str]) -> int:
    """Attention of an int8 model (fp32 activations) in bf16; how many key/value projections now cache bf16.

    ``projections`` names the attention modules' key and value projections (the
    architecture's, ``models._speed.arch``). The decoder's hand their output to the cache
    in bf16, and the encoder's self-attention runs as bf16 matmuls (86 ms against torch's
    fp32 SDPA kernel's 121-139 ms for 8 documents x 16 heads x 500 tokens, 1 thread; its
    bf16 kernel was no faster than fp32 here).
    """
    for attention in _attention_modules(model, projections):
        setattr(attention, _BF16_FLAG, True)
    found = [
        projection
        for attention in _attention_modules(model.get_decoder(), projections)
        for projection in _key_value(attention, projections)
    ]
    for projection in found:
        projection.register_forward_hook(_to_bf16)
    return len(found)


def _attention_modules(model: Any, projections: tuple[str, str]) -> list[Any]:
    return [module for module in model.modules() if _key_value(module, projections)]


def _key_value(module: Any, projections: tuple[str, str]) -> tuple[Any, ...]:
    """The module's key and value projections, if it has both (an attention module)."""
    found = [getattr(module, name, None) for name in projections]
    return tuple(found) if all(isinstance(projection, torch.nn.Module) for projection in found) else ()


def _to_bf16(module: torch.nn.Module, inputs: Any, output: torch.Tensor) -> torch.Tensor:
    del module, inputs
    return output.to(torch.bfloat16)


def register() -> str:
    """Make :data:`NAME` known to transformers, masks made as for SDPA (without, padding would be ignored)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, docsum_sdpa)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
