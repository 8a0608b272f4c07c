"""docsum's attention function (models._speed.attention) against transformers' SDPA."""

from __future__ import annotations

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from models._speed import attention
from models._speed.attention import docsum_sdpa


class _Attention(torch.nn.Module):
    is_causal = False


def _reference(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, mask: torch.Tensor | None, **kwargs: object
) -> torch.Tensor:
    """transformers' SDPA in fp32 with every row's keys and values copied out, as generate does."""
    group = query.shape[0] // key.shape[0]
    key, value = key.float().repeat_interleave(group, 0), value.float().repeat_interleave(group, 0)
    if mask is not None and mask.shape[0] > 1:
        mask = mask.repeat_interleave(group, 0)
    output, _ = sdpa_attention_forward(_Attention(), query.float(), key, value, mask, **kwargs)  # type: ignore[arg-type]
    return output


def _inputs(documents: int, group: int, length: int, keys: int) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(documents * 100 + group * 10 + length)
    query = torch.randn(documents * group, 4, length, 8, generator=generator)
    key = torch.randn(documents, 4, keys, 8, generator=generator)
    value = torch.randn(documents, 4, keys, 8, generator=generator)
    return query, key, value


def _right_padding(documents: int, length: int, keys: int) -> torch.Tensor:
    valid = torch.ones(documents, keys, dtype=torch.bool)
    for row in range(1, documents):
        valid[row, keys - 2 * row :] = False
    return valid[:, None, None, :].expand(documents, 1, length, keys)


@pytest.mark.parametrize("group", [1, 3])
@pytest.mark.parametrize("length", [1, 5])
@pytest.mark.parametrize("cache_dtype", [torch.float32, torch.bfloat16])
def test_decoding_attention_matches_sdpa(group: int, length: int, cache_dtype: torch.dtype) -> None:
    query, key, value = _inputs(3, group, length, 11)
    mask = _right_padding(3, length, 11)
    bias = torch.randn(1, 4, length, 11, generator=torch.Generator().manual_seed(1))  # T5's relative positions
    for kwargs in ({}, {"position_bias": bias, "scaling": 1.0}):
        expected = _reference(query, key, value, mask, **kwargs)
        got, _ = docsum_sdpa(_Attention(), query, key.to(cache_dtype), value.to(cache_dtype), mask, **kwargs)
        assert got.dtype == query.dtype and got.shape == expected.shape
        tolerance = 1e-5 if cache_dtype == torch.float32 else 5e-2  # bf16 keys, values and scores
        torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)


def test_one_mask_serves_every_layer_in_either_dtype() -> None:
    """All layers of a forward pass share one mask; its additive form is made once per dtype and reused."""
    query, key, value = _inputs(3, 1, 1, 11)
    mask = _right_padding(3, 1, 11)
    expected = _reference(query, key, value, mask)
    for cache_dtype in (torch.float32, torch.bfloat16, torch.float32, torch.bfloat16):
        got, _ = docsum_sdpa(_Attention(), query, key.to(cache_dtype), value.to(cache_dtype), mask)
        tolerance = 1e-5 if cache_dtype == torch.float32 else 5e-2
        torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)
    assert set(mask._docsum_additive) == {torch.float32, torch.bfloat16}


@pytest.mark.parametrize("left_padding", [False, True])
def test_long_inputs_attend_in_bf16_and_padding_becomes_shorter_keys(
    left_padding: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attention, "SCORES_PER_CHUNK", 1)  # one document at a time, as for 500-token inputs
    query, key, value = _inputs(3, 1, 70, 70)
    mask = _right_padding(3, 70, 70)
    if left_padding:  # not a prefix of keys: masked instead of cut
        mask = mask.flip(-1)
    module = _Attention()
    module._docsum_attention_in_bf16 = True  # type: ignore[attr-defined]
    got, _ = docsum_sdpa(module, query, key, value, mask, dropout=0.0, use_cache=True)
    torch.testing.assert_close(got, _reference(query, key, value, mask), atol=3e-2, rtol=3e-2)
    assert getattr(mask, "_docsum_valid_keys", "unset") == (None if left_padding else [70, 68, 66])


def test_a_lone_padded_document_attends_only_to_its_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """One document in one chunk still has its padding cut off (the chunk loop is skipped for one chunk)."""
    monkeypatch.setattr(attention, "SCORES_PER_CHUNK", 1)
    query, key, value = (tensor[1:2] for tensor in _inputs(3, 1, 70, 70))
    mask = _right_padding(3, 70, 70)[1:2]  # 68 of 70 keys
    module = _Attention()
    module._docsum_attention_in_bf16 = True  # type: ignore[attr-defined]
    got, _ = docsum_sdpa(module, query, key, value, mask, dropout=0.0, use_cache=True)
    torch.testing.assert_close(got, _reference(query, key, value, mask), atol=3e-2, rtol=3e-2)
    assert mask._docsum_valid_keys == [68]


def test_anything_else_goes_to_transformers_sdpa() -> None:
    query, key, value = _inputs(2, 1, 6, 6)
    causal = _Attention()
    causal.is_causal = True  # type: ignore[misc]
    for module, kwargs in ((causal, {}), (_Attention(), {"softcap": None, "sliding_window": 4})):
        got, _ = docsum_sdpa(module, query, key, value, None, **kwargs)
        expected, _ = sdpa_attention_forward(module, query, key, value, None, **kwargs)  # type: ignore[arg-type]
        torch.testing.assert_close(got, expected)
