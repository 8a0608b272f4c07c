"""The load-time check of docsum's speed paths: they engage on every architecture they claim, a path that
stops engaging (as the scripted steps did when transformers 5.25 renamed the cache argument) is reported, and
``accelerate=False`` turns all of them off."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch
from torch.ao.nn.quantized.dynamic import Linear as DynamicQuantizedLinear
from transformers import AutoModelForSeq2SeqLM

from models._speed import attention, decoding_step, plan
from models._speed.patches import replaced_methods
from models.acceleration import ATTENTION, PARTS, SCRIPTED_STEPS, SHARED_ENCODER_OUTPUTS, TURNED_OFF
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from tests.checkpoints import CORPUS

CHECKPOINTS = ["tiny_bart_dir", "tiny_pegasus_dir", "tiny_t5_dir", "tiny_flan_t5_dir"]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_int8_models_run_every_speed_path_they_claim(checkpoint: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(checkpoint)
    summarizer = Seq2SeqSummarizer.load("tiny", str(path), LoadSettings(dtype="int8"))
    acceleration = summarizer.acceleration
    assert acceleration.accelerated, acceleration.reason
    assert {ATTENTION, PARTS, SCRIPTED_STEPS, SHARED_ENCODER_OUTPUTS} <= set(acceleration.engaged)
    assert acceleration.reason is None


def test_bf16_models_run_docsum_attention_without_scripted_steps(tiny_bart_dir: Path) -> None:
    acceleration = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="bfloat16")).acceleration
    assert acceleration.accelerated and ATTENTION in acceleration.engaged
    assert SCRIPTED_STEPS not in acceleration.engaged  # int8 only, by design: not a missing path


def test_float32_says_why_it_is_not_accelerated(tiny_bart_dir: Path) -> None:
    acceleration = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32")).acceleration
    assert not acceleration.accelerated and not acceleration.missing
    assert acceleration.reason is not None and "transformers' own generation" in acceleration.reason


def test_a_fast_path_that_stops_engaging_is_reported_and_undone(
    tiny_bart_dir: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # As if transformers had renamed the cache argument again: every step is declined.
    monkeypatch.setattr(decoding_step, "_CACHE_KWARGS", ("a_future_name",))
    with caplog.at_level(logging.WARNING, logger="models.loading"):
        summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    acceleration = summarizer.acceleration
    assert not acceleration.accelerated
    assert [path for path, _ in acceleration.missing] == [SCRIPTED_STEPS]
    assert acceleration.reason is not None and "cache" in acceleration.reason  # the arguments it saw
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1 and "not fully accelerated" in warnings[0].getMessage()
    assert "forward" not in summarizer.generator.model.__dict__  # transformers' own forward again
    [summary] = summarizer.summarize([CORPUS[0]], SummaryOptions(max_tokens=6, num_beams=1))
    assert summary.summary


def _refuse(*args: object, **kwargs: object) -> None:
    raise AssertionError("called with accelerate=False")


def _docsum_attributes(model: torch.nn.Module) -> list[str]:
    return [f"{path}.{name}" for path, module in model.named_modules() for name in vars(module) if "docsum" in name]


@pytest.mark.parametrize("checkpoint", CHECKPOINTS)
def test_turned_off_a_model_is_transformers_own_in_fp32(
    checkpoint: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No method replaced, no docsum attention registered or state kept, no allocator setting: the outputs of
    the same checkpoint loaded by transformers alone, bit for bit."""
    monkeypatch.setattr(plan, "keep_large_blocks_on_the_heap", _refuse)  # mallopt
    monkeypatch.setattr(attention, "register", _refuse)  # AttentionInterface.register
    directory = str(request.getfixturevalue(checkpoint))
    summarizer = Seq2SeqSummarizer.load("tiny", directory, LoadSettings(dtype="float32", accelerate=False))
    model = summarizer.generator.model
    assert replaced_methods(model) == [] and _docsum_attributes(model) == []
    assert model.config._attn_implementation == "sdpa"
    acceleration = summarizer.acceleration
    assert not acceleration.accelerated and not acceleration.engaged and not acceleration.missing
    assert acceleration.reason is not None and acceleration.reason.startswith(TURNED_OFF)
    reference = AutoModelForSeq2SeqLM.from_pretrained(directory, use_safetensors=True, dtype=torch.float32).eval()
    reference.generation_config = model.generation_config  # as docsum completes it at load
    inputs = summarizer.preprocess(list(CORPUS[:5]))  # padded
    options = SummaryOptions(num_beams=2, max_tokens=8, min_tokens=8)
    kwargs = summarizer.generation_kwargs(options)
    with torch.inference_mode():
        expected = reference.generate(input_ids=inputs.input_ids, attention_mask=inputs.attention_mask, **kwargs)
    assert torch.equal(summarizer.forward(inputs, kwargs), expected)


def test_turned_off_int8_is_torchs_own_dynamic_quantization(
    tiny_bart_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plan, "keep_large_blocks_on_the_heap", _refuse)
    summarizer = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8", accelerate=False))
    linears = [module for module in summarizer.generator.model.modules() if type(module).__name__.endswith("Linear")]
    assert linears and all(type(module) is DynamicQuantizedLinear for module in linears)  # not per-row scaled
    assert replaced_methods(summarizer.generator.model) == [] and _docsum_attributes(summarizer.generator.model) == []
    assert not summarizer.acceleration.accelerated and not summarizer.generator.speed.generates_in_parts
    [summary] = summarizer.summarize([CORPUS[0]], SummaryOptions(max_tokens=6, num_beams=1))
    assert summary.summary
