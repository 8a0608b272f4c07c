"""The load-time check of docsum's speed paths: they engage on every architecture they claim, and a path that
stops engaging (as the scripted steps did when transformers 5.25 renamed the cache argument) is reported."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from models import decoding_step
from models.acceleration import ATTENTION, PARTS, SCRIPTED_STEPS, SHARED_ENCODER_OUTPUTS
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
    assert "forward" not in summarizer.model.__dict__  # transformers' own forward again
    [summary] = summarizer.summarize([CORPUS[0]], SummaryOptions(max_tokens=6, num_beams=1))
    assert summary.summary
