"""int8 quantization (models._speed.int8): what torch's quantize_dynamic gives, and close to fp32."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from models._speed.attention import NAME
from models._speed.int8 import quantize_in_blocks, quantize_linear_int8
from models._speed.memory import release_free_memory
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

SHORT = list(CORPUS[:7])  # different lengths: padded batches
LONG = [" ".join(CORPUS[i : i + 3]) for i in range(5)]  # over the 64-token window
FP32 = LoadSettings(dtype="float32", batch_invariant=False)  # transformers' own fp32, the reference


@pytest.mark.parametrize("model_dir", ["tiny_bart_dir", "tiny_flan_t5_dir", "tiny_pegasus_dir"])
def test_int8_runs_and_stays_close_to_fp32(model_dir: str, request: pytest.FixtureRequest) -> None:
    directory = str(request.getfixturevalue(model_dir))
    fp32 = Seq2SeqSummarizer.load("tiny", directory, FP32)
    int8 = Seq2SeqSummarizer.load("tiny", directory, LoadSettings(dtype="int8"))
    assert "RowScaledInt8Linear" in repr(int8.generator.model)  # batch-invariant by default (models._speed.int8)
    assert int8.generator.model.config._attn_implementation == NAME
    options = SummaryOptions(num_beams=1, max_tokens=10)
    expected, got = fp32.summarize(SHORT, options), int8.summarize(SHORT, options)
    assert [s.output_tokens for s in got] == [s.output_tokens for s in expected]
    assert all(s.summary for s in int8.summarize(SHORT + LONG, SummaryOptions(num_beams=4, max_tokens=10)))
    release_free_memory()  # harmless to call again


def test_quantizing_in_blocks_equals_quantize_dynamic() -> None:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 300)
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        whole = quantize_dynamic(torch.nn.Sequential(linear), {torch.nn.Linear: per_channel_dynamic_qconfig})[0]
    blocks = quantize_in_blocks(linear, rows=128)
    assert torch.equal(blocks.weight().int_repr(), whole.weight().int_repr())
    assert torch.equal(blocks.weight().q_per_channel_scales(), whole.weight().q_per_channel_scales())
    x = torch.randn(5, 64)
    assert torch.equal(blocks(x), whole(x))
    assert (blocks.in_features, blocks.out_features) == (64, 300)


def test_quantizing_a_model_on_several_threads_equals_quantize_dynamic(tiny_bart_dir: Path) -> None:
    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic
    from transformers import AutoModelForSeq2SeqLM

    ours = AutoModelForSeq2SeqLM.from_pretrained(tiny_bart_dir, use_safetensors=True)
    theirs = AutoModelForSeq2SeqLM.from_pretrained(tiny_bart_dir, use_safetensors=True)
    quantize_linear_int8(ours, group_rows=100)  # several groups, several workers
    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        quantize_dynamic(theirs, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True)
    from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear

    ours_linear = {n: m for n, m in ours.named_modules() if isinstance(m, DynamicQuantizedLinear)}
    theirs_linear = {n: m for n, m in theirs.named_modules() if isinstance(m, DynamicQuantizedLinear)}
    assert ours_linear.keys() == theirs_linear.keys() and len(ours_linear) > 20
    for name, module in ours_linear.items():
        other = theirs_linear[name]
        assert torch.equal(module.weight().int_repr(), other.weight().int_repr()), name
        assert torch.equal(module.weight().q_per_channel_scales(), other.weight().q_per_channel_scales()), name
        assert (module.bias() is None) == (other.bias() is None) and (
            module.bias() is None or torch.equal(module.bias(), other.bias())
        ), name
