"""Each architecture's fast path (models._speed.arch): found by model type, and one without an entry gets none."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers.activations import NewGELUActivation

from models._speed import arch
from models._speed.arch.t5 import FusedTanhGelu
from models._speed.patches import replaced_methods
from models.loading import DTypeName, LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS


def test_the_fused_tanh_gelu_is_gelu_new_up_to_rounding() -> None:
    values = torch.randn(4096, 256, generator=torch.Generator().manual_seed(0)) * 4
    expected = NewGELUActivation()(values)
    fused = FusedTanhGelu()(values)
    torch.testing.assert_close(fused, expected, rtol=1e-5, atol=1e-6)
    assert not torch.equal(fused, expected)  # a different kernel, not the same ops


@pytest.mark.parametrize(("dtype", "fused"), [("int8", True), ("bfloat16", True), ("float32", False)])
def test_flan_t5_gets_the_fused_gelu_but_not_in_fp32(tiny_flan_t5_dir: Path, dtype: DTypeName, fused: bool) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_flan_t5_dir), LoadSettings(dtype=dtype))
    activations = [module.act for module in summarizer.generator.model.modules() if hasattr(module, "wi_0")]
    assert len(activations) == 4  # two encoder and two decoder blocks
    expected = FusedTanhGelu if fused else NewGELUActivation
    assert all(type(act) is expected for act in activations)


@pytest.mark.parametrize(
    ("checkpoint", "name"),
    [("tiny_bart_dir", "BART"), ("tiny_pegasus_dir", "PEGASUS"), ("tiny_t5_dir", "T5"), ("tiny_flan_t5_dir", "T5")],
)
def test_each_architecture_is_found_by_its_model_type(
    checkpoint: str, name: str, request: pytest.FixtureRequest
) -> None:
    summarizer = Seq2SeqSummarizer.load("tiny", str(request.getfixturevalue(checkpoint)), LoadSettings(dtype="float32"))
    found = arch.architecture_of(summarizer.generator.model)
    assert found is not None and found.name == name


@pytest.mark.parametrize("dtype", ["int8", "bfloat16"])
def test_an_architecture_without_an_entry_gets_no_fast_path_and_says_so(
    tiny_bart_dir: Path, dtype: DTypeName, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = {name: entry for name, entry in arch._registry().items() if name != "bart"}
    monkeypatch.setattr(arch, "_registry", lambda: registry)
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype=dtype))
    acceleration = summarizer.acceleration
    assert not acceleration.accelerated and not acceleration.missing and not acceleration.engaged
    assert acceleration.reason is not None and "no fast path for bart models" in acceleration.reason
    assert not summarizer.generator.speed.generates_in_parts and summarizer.generator.speed.scripted_steps is None
    # No speed path replaced a method; batch invariance (on by default) still blocks the float decoder's rows.
    assert not {"forward", "_expand_inputs_for_generation", "_reorder_cache"} & set(
        replaced_methods(summarizer.generator.model)
    )
    [summary] = summarizer.summarize([CORPUS[0]], SummaryOptions(max_tokens=6, num_beams=2))
    assert summary.summary
