"""Pauses between decoding steps (models.yielding) on a real tiny BART: exact outputs, safe nesting."""

from __future__ import annotations

from pathlib import Path

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
