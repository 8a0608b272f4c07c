"""models/_speed/causal.py: instruct (decoder-only) models take their speed paths on the CPU, each checked at
load and reported; a document's logits never depend on its batchmates; float32 and DOCSUM_ACCELERATE=false
stay transformers' own. On the tiny Qwen2 and on the real SmolLM2-135M."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from models._speed.causal import NAME, check_last_logits, per_document_sdpa
from models._speed.causal_forward import CausalForward
from models._speed.int8 import RowScaledInt8Linear
from models.acceleration import (
    CAUSAL_FORWARD,
    INT8_LINEAR,
    LAST_LOGITS,
    PARTS,
    PER_DOCUMENT_ATTENTION,
    SCRIPTED_STEPS,
    TURNED_OFF,
)
from models.backends.instruct import load_instruct
from models.instruct import InstructSummarizer
from models.loading import LoadSettings, cpu_has_native_bf16, cpu_prefers_int8
from models.types import SummaryOptions

pytestmark = pytest.mark.slow

FLOAT_PATHS = (PER_DOCUMENT_ATTENTION, LAST_LOGITS, CAUSAL_FORWARD, SCRIPTED_STEPS, PARTS)
INT8_PATHS = (INT8_LINEAR, *FLOAT_PATHS)
TEXTS = [
    "The council voted to build a library downtown; it opens in 2027 and costs 12 million dollars.",
    "Rain.",
    "Three days of rain flooded the old town, and the river reached its highest level since 1952.",
]


def assert_accelerated(model: InstructSummarizer) -> None:
    """Every path its dtype takes engaged: int8 models all four, bf16 ones all but int8 Linear layers."""
    report = model.acceleration
    int8 = any(isinstance(m, RowScaledInt8Linear) for m in model.model.modules())
    assert report.engaged == (INT8_PATHS if int8 else FLOAT_PATHS), report
    assert not report.missing and report.accelerated, report
    assert model.plan.generates_in_parts
    assert model.model.config._attn_implementation == NAME
    assert int8 or model.model.dtype == torch.bfloat16


def last_logits_each_way(model: InstructSummarizer) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Each prompt's last-position logits, in one left-padded batch and alone."""
    inputs = model.preprocess(TEXTS, SummaryOptions())
    positions = (inputs.attention_mask.cumsum(-1) - 1).clamp_min(0)  # as generate counts them under left padding
    with torch.inference_mode():
        batch = model.model(
            input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, position_ids=positions
        ).logits[:, -1]
        alone = []
        for text in TEXTS:
            one = model.preprocess([text], SummaryOptions())
            alone.append(model.model(input_ids=one.input_ids, attention_mask=one.attention_mask).logits[0, -1])
    return list(batch), alone


@pytest.fixture(scope="module")
def tiny_qwen2(tiny_qwen2_dir: Path) -> InstructSummarizer:
    return load_instruct("tiny-qwen2", str(tiny_qwen2_dir), LoadSettings(dtype="int8", threads=2))


@pytest.fixture(scope="module")
def tiny_qwen2_bf16(tiny_qwen2_dir: Path) -> InstructSummarizer:
    return load_instruct("tiny-qwen2", str(tiny_qwen2_dir), LoadSettings(dtype="bfloat16", threads=2))


@pytest.mark.parametrize("which", ["tiny_qwen2", "tiny_qwen2_bf16", "smollm2"])
def test_every_path_engages(which: str, request: pytest.FixtureRequest) -> None:
    assert_accelerated(request.getfixturevalue(which))


def test_auto_picks_what_measured_fastest_on_this_cpu(smollm2: InstructSummarizer) -> None:
    """bf16 with AMX or native bf16, int8 with VNNI alone (as seq2seq models): never plain fp32 by accident."""
    int8 = any(isinstance(m, RowScaledInt8Linear) for m in smollm2.model.modules())
    if cpu_prefers_int8():
        assert int8
    elif cpu_has_native_bf16():
        assert not int8 and smollm2.model.dtype == torch.bfloat16
    else:
        pytest.skip("a CPU without native bf16 or VNNI runs instruct models in fp32")


@pytest.mark.parametrize("which", ["tiny_qwen2", "tiny_qwen2_bf16", "smollm2"])
def test_logits_do_not_depend_on_batchmates(which: str, request: pytest.FixtureRequest) -> None:
    model: InstructSummarizer = request.getfixturevalue(which)
    batch, alone = last_logits_each_way(model)
    for together, single in zip(batch, alone, strict=True):
        assert torch.equal(together, single)


@pytest.mark.parametrize("which", ["tiny_qwen2", "tiny_qwen2_bf16"])
def test_generated_tokens_do_not_depend_on_batchmates(which: str, request: pytest.FixtureRequest) -> None:
    tiny_qwen2: InstructSummarizer = request.getfixturevalue(which)
    options = SummaryOptions(max_tokens=12, min_tokens=12)
    inputs = tiny_qwen2.preprocess(TEXTS, options)
    together = tiny_qwen2.forward(inputs, tiny_qwen2.generation_kwargs(options))
    for row, text in enumerate(TEXTS):
        alone = tiny_qwen2.forward(tiny_qwen2.preprocess([text], options), tiny_qwen2.generation_kwargs(options))
        assert together[row].tolist() == alone[0].tolist()


def test_a_path_that_stops_engaging_is_caught(tiny_qwen2: InstructSummarizer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were transformers to stop passing logits_to_keep, the check at load would say so."""
    monkeypatch.setattr(type(tiny_qwen2.model), "_supports_logits_to_keep", lambda self: False)
    assert check_last_logits(tiny_qwen2.model) == "the LM head ran on 8 positions per row in a prefill"


def test_a_forward_that_stops_engaging_is_caught(tiny_qwen2_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were every call to go to transformers' forward (its arguments renamed, say), the check at load would say so."""
    monkeypatch.setattr(CausalForward, "__call__", lambda self, kwargs: None)
    model = load_instruct("declined", str(tiny_qwen2_dir), LoadSettings(dtype="bfloat16", threads=2))
    missing = dict(model.acceleration.missing)
    assert missing[CAUSAL_FORWARD].startswith("a warm-up call went to transformers' forward (given ")
    assert SCRIPTED_STEPS not in model.acceleration.engaged and not model.acceleration.accelerated


def test_float32_and_turned_off_stay_transformers_own(tiny_qwen2_dir: Path) -> None:
    fp32 = load_instruct("fp32", str(tiny_qwen2_dir), LoadSettings(dtype="float32", threads=2))
    off = load_instruct("off", str(tiny_qwen2_dir), LoadSettings(accelerate=False, threads=2))
    for model in (fp32, off):
        assert not model.acceleration.engaged and not model.plan.generates_in_parts
        assert model.model.config._attn_implementation == "sdpa"
        assert not any(isinstance(m, RowScaledInt8Linear) for m in model.model.modules())
        assert model.model.dtype == torch.float32
        assert "forward" not in model.model.__dict__  # transformers' own forward: docsum's is never installed
    assert "float32 runs transformers' own generation" in str(fp32.acceleration.reason)
    assert str(off.acceleration.reason).startswith(TURNED_OFF)


def test_per_document_attention_is_sdpa_on_each_row_alone() -> None:
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 4, 6, 8), torch.randn(2, 2, 6, 8), torch.randn(2, 2, 6, 8)
    mask = torch.ones(2, 1, 6, 6, dtype=torch.bool).tril()
    mask[1, :, :, :2] = False  # row 1: two positions of left padding
    out, _ = per_document_sdpa(torch.nn.Module(), q, k, v, mask, scaling=0.5)
    expected = torch.nn.functional.scaled_dot_product_attention(
        q[1:, :, 2:], k[1:, :, 2:], v[1:, :, 2:], is_causal=True, scale=0.5, enable_gqa=True
    )
    assert torch.equal(out[1, 2:], expected[0].transpose(0, 1))
    assert torch.equal(out[1, :2], torch.zeros(2, 4, 8))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    full = sdpa(q[:1], k[:1], v[:1], is_causal=True, scale=0.5, enable_gqa=True)
    assert torch.allclose(out[0], full[0].transpose(0, 1))
    step, _ = per_document_sdpa(torch.nn.Module(), q[:, :, -1:], k, v, mask[:, :, -1:], scaling=0.5)  # decoding
    assert torch.allclose(step[:, 0], out[:, -1], atol=1e-6)
