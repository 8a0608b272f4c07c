"""Pauses between decoding steps (models.yielding) on a real tiny BART: exact outputs, safe nesting."""

from __future__ import annotations

from pathlib import Path

import pytest

from models import seq2seq
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from models.yielding import between_steps, has_callback
from tests.checkpoints import CORPUS


def test_the_callback_runs_after_every_step_and_changes_no_output(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    texts = [" ".join(CORPUS[:3]), CORPUS[4]]
    for options in (SummaryOptions(min_tokens=10, max_tokens=10), SummaryOptions(max_tokens=8, num_beams=2)):
        plain = model.summarize(texts, options)
        steps = [0]

        def count(steps: list[int] = steps) -> None:
            steps[0] += 1

        with between_steps(count):
            paused = model.summarize(texts, options)
        assert paused == plain
        assert steps[0] >= 8  # one call per generated token, at least
    assert not has_callback()


def test_a_model_call_inside_the_callback_is_not_paused_again(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    options = SummaryOptions(min_tokens=6, max_tokens=6)
    urgent_alone = model.summarize([CORPUS[5]], options)
    background_alone = model.summarize([CORPUS[1]], options)
    served: list[object] = []
    calls = 0

    def serve_urgent() -> None:
        nonlocal calls
        calls += 1
        if not served:
            served.append(model.summarize([CORPUS[5]], options))  # nested: would recurse if paused again

    with between_steps(serve_urgent):
        background = model.summarize([CORPUS[1]], options)
    assert served == [urgent_alone]
    assert background == background_alone
    assert calls >= 6


def test_the_encoder_pass_pauses_between_slices_with_the_same_outputs(
    tiny_bart_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    texts = CORPUS[:5]  # each fits the window: one generate call for all five
    options = SummaryOptions(min_tokens=4, max_tokens=4)
    plain = model.summarize(texts, options)
    counts = []
    for slice_tokens in (1_000_000, 1):  # one slice for all rows; then one row per slice
        monkeypatch.setattr(seq2seq, "_ENCODER_SLICE_TOKENS", slice_tokens)
        steps = [0]

        def count(steps: list[int] = steps) -> None:
            steps[0] += 1

        with between_steps(count):
            assert model.summarize(texts, options) == plain
        counts.append(steps[0])
    assert counts[1] - counts[0] == len(texts) - 1  # a pause between every two of the five rows
