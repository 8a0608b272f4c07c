"""A model call nobody waits for stops at its next pause point (models.yielding.stop_when), on a real tiny BART."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import torch

from models.extractive import ExtractiveSummarizer
from models.loading import LoadSettings
from models.seq2seq import Seq2SeqSummarizer
from models.types import SummaryOptions
from models.yielding import Cancelled, has_pause_points, stop_when
from tests.checkpoints import CORPUS

LONG = SummaryOptions(min_tokens=60, max_tokens=60, num_beams=1)


def count_decoder_calls(model: Seq2SeqSummarizer) -> list[int]:
    """How many times the decoder ran, from any thread."""
    calls = [0]
    lock = threading.Lock()

    def hook(*_: Any) -> None:
        with lock:
            calls[0] += 1

    model.generator.model.get_decoder().register_forward_hook(hook)
    return calls


def after(calls: list[int], steps: int) -> Any:
    return lambda: calls[0] >= steps


def test_an_abandoned_call_stops_at_its_next_decoding_step(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    calls = count_decoder_calls(model)
    model.summarize([CORPUS[0]], LONG)
    whole = calls[0]
    assert whole >= 60
    calls[0] = 0
    with pytest.raises(Cancelled), stop_when(after(calls, 3)):
        model.summarize([CORPUS[0]], LONG)
    assert calls[0] == 3
    assert not has_pause_points()
    assert model.summarize([CORPUS[0]], LONG)[0].output_tokens == 60  # the model is fine afterwards


def test_an_abandoned_call_stops_in_its_encoder_before_any_decoding(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    calls = count_decoder_calls(model)
    with pytest.raises(Cancelled), stop_when(lambda: True):
        model.summarize(CORPUS[:4], LONG)
    assert calls[0] == 0


def test_a_call_in_parts_stops_every_part_before_it_returns(tiny_bart_dir: Path) -> None:
    """int8 on CPU: one part per thread on worker threads (scripted decoding steps: counted at the pause
    points themselves); none may still run once the call has raised."""
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="int8"))
    assert model.generator.speed.generates_in_parts
    asked = [0]
    lock = threading.Lock()

    def abandoned() -> bool:
        with lock:
            asked[0] += 1
            return asked[0] > 20  # past the encoder layers, a few decoding steps in

    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with pytest.raises(Cancelled), stop_when(abandoned):
            model.summarize(CORPUS[:6], LONG)
        stopped_at = asked[0]
        assert stopped_at <= 24  # each part asks once more at most: two parts of 60 steps each
        threading.Event().wait(0.2)
        assert asked[0] == stopped_at, "a part went on after the call returned"
        assert model.summarize(CORPUS[:6], SummaryOptions(max_tokens=4))[0].summary
    finally:
        torch.set_num_threads(threads)


def test_a_chunked_document_stops_at_its_next_map_call(tiny_bart_dir: Path) -> None:
    model = Seq2SeqSummarizer.load("tiny", str(tiny_bart_dir), LoadSettings(dtype="float32"))
    model.map_batch_tokens = 4 * model.max_input_tokens  # four chunks per map call
    generated = [0]
    original = model.generate_texts

    def counting(texts: Any, options: SummaryOptions) -> list[str]:
        generated[0] += 1
        return original(texts, options)

    model.generate_texts = counting  # type: ignore[method-assign]
    document = " ".join(CORPUS * 4)
    with pytest.raises(Cancelled), stop_when(after(generated, 2)):
        model.summarize([document], SummaryOptions(max_tokens=8, num_beams=1))
    assert generated[0] == 2  # the second map call stopped inside; no third began


def test_an_abandoned_extractive_call_stops_between_documents(news_article: str) -> None:
    summarized = [0]
    summarizer = ExtractiveSummarizer()
    original = summarizer._summarize_one

    def counted(*args: Any) -> Any:
        summarized[0] += 1
        return original(*args)

    summarizer._summarize_one = counted  # type: ignore[method-assign]
    with pytest.raises(Cancelled), stop_when(lambda: summarized[0] >= 2):
        summarizer.summarize([news_article] * 5, SummaryOptions())
    assert summarized[0] == 2
