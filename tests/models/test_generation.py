"""models.generation's model changes that the other speed-up tests (test_inference_speedups.py) leave out."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers.activations import NewGELUActivation

from models.generation import FusedTanhGelu
from models.loading import DTypeName, LoadSettings
from models.seq2seq import Seq2SeqSummarizer


def test_the_fused_tanh_gelu_is_gelu_new_up_to_rounding() -> None:
    values = torch.randn(4096, 256, generator=torch.Generator().manual_seed(0)) * 4
    expected = NewGELUActivation()(values)
    fused = FusedTanhGelu()(values)
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(fused, expected)  # a different kernel, not the same ops


@pytest.mark.parametrize(("dtype", "fused"), [("int8", True), ("bfloat16", True), ("float32", False)])
def test_flan_t5_gets_the_fused_gelu_but_not_in_fp32(tiny_flan_t5_dir: Path, dtype: DTypeName, fused: bool) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_flan_t5_dir), LoadSettings(dtype=dtype))
    activations = [module.act for module in summarizer.model.modules() if hasattr(module, "wi_0")]
    assert len(activations) == 4  # two encoder and two decoder blocks
    expected = FusedTanhGelu if fused else NewGELUActivation
    assert all(type(act) is expected for act in activations)
