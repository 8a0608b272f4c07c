"""Long documents on a tiny BART with 64 positions: any overflow would crash it."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from models.errors import InputTooLong, TooManyChunks
from models.loading import LoadSettings
from models.longdoc import plan_documents
from models.seq2seq import Seq2SeqSummarizer
from models.text import split_sentences
from models.types import ProgressEvent, SummaryEvent, SummaryOptions, TokenEvent
from tests.checkpoints import CORPUS

WINDOW = 64


def long_document(words: int, seed: int = 0) -> str:
    """Paragraphs of the tiny tokenizer's own training sentences, shuffled."""
    rng = random.Random(seed)
    paragraphs, sentences, count = [], [], 0
    while count < words:
        sentence = rng.choice(CORPUS)
        sentences.append(sentence)
        count += len(sentence.split())
        if len(sentences) == 6:
            paragraphs.append(" ".join(sentences))
            sentences = []
    paragraphs.append(" ".join(sentences))
    return "\n\n".join(p for p in paragraphs if p)


@pytest.fixture(scope="module")
def bart(tiny_bart_dir: Path) -> Seq2SeqSummarizer:
    return Seq2SeqSummarizer.load("tiny-bart", str(tiny_bart_dir), LoadSettings(device="cpu", dtype="float32"))


@pytest.fixture
def generate_calls(bart: Seq2SeqSummarizer, monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(batch size, input length) of every call into the model."""
    calls: list[tuple[int, int]] = []
    original = bart.generator.model.generate

    def recording(*args: Any, **kwargs: Any) -> Any:
        calls.append(tuple(kwargs["input_ids"].shape))
        return original(*args, **kwargs)

    monkeypatch.setattr(bart.generator.model, "generate", recording)
    return calls


def test_a_20000_word_document_is_summarized_in_chunks(
    bart: Seq2SeqSummarizer, generate_calls: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bart, "max_chunks", None)  # hundreds of chunks of a 64-token window
    document = long_document(20_000)
    [summary] = bart.summarize([document], SummaryOptions(max_tokens=20, num_beams=1))
    assert summary.summary and summary.output_tokens > 0
    assert summary.truncated is False
    assert summary.input_tokens == bart.count_input_tokens([document])[0] > 20_000
    assert all(length <= WINDOW for _, length in generate_calls), "an input overflowed the window"

    chunks = summary.chunks
    assert chunks is not None and len(chunks) > 100
    for chunk in chunks:
        assert bart.count_input_tokens([document[chunk.offset : chunk.offset + chunk.length]])[0] <= WINDOW
        assert chunk.summary
    assert [c.offset for c in chunks] == sorted(c.offset for c in chunks)
    covered = set()
    for chunk in chunks:
        covered.update(range(chunk.offset, chunk.offset + chunk.length))
    assert all(i in covered for i, ch in enumerate(document) if not ch.isspace())
    assert summary.reduce_rounds >= 2
    # Batched: far fewer model calls than chunks.
    assert len(generate_calls) < len(chunks) / 10


def test_chunk_boundaries_fall_between_sentences(bart: Seq2SeqSummarizer) -> None:
    document = long_document(600, seed=3)
    [summary] = bart.summarize([document], SummaryOptions(max_tokens=10))
    assert summary.chunks is not None and len(summary.chunks) > 3
    starts = {s.offset for s in split_sentences(document)}
    ends = {s.end for s in split_sentences(document)}
    for chunk in summary.chunks:
        assert chunk.offset in starts and chunk.offset + chunk.length in ends


def test_the_map_step_batches_chunks(bart: Seq2SeqSummarizer, generate_calls: list[tuple[int, int]]) -> None:
    bart.map_batch_tokens = WINDOW * 8
    try:
        [summary] = bart.summarize([long_document(1_500, seed=1)], SummaryOptions(max_tokens=10))
    finally:
        bart.map_batch_tokens = 16_384
    assert summary.chunks is not None
    map_calls = -(-len(summary.chunks) // 8)  # as few calls as 8 chunks each allow, of even sizes
    sizes = [size for size, _ in generate_calls[:map_calls]]
    assert sum(sizes) == len(summary.chunks) and max(sizes) <= 8 and max(sizes) - min(sizes) <= 1


def test_inputs_that_fit_take_the_single_pass_unchanged(bart: Seq2SeqSummarizer) -> None:
    options = SummaryOptions(max_tokens=10)
    text = "The council met today. It approved the plan."
    [chunked] = bart.summarize([text], options)
    [head] = bart.summarize([text], SummaryOptions(max_tokens=10, truncation="head"))
    assert chunked == head
    assert chunked.chunks is None and chunked.reduce_rounds == 0


def test_a_batch_mixes_fitting_and_long_documents_in_order(bart: Seq2SeqSummarizer) -> None:
    texts = ["Short one.", long_document(400, seed=2), "Another short one."]
    results = bart.summarize(texts, SummaryOptions(max_tokens=8))
    assert [r.chunks is not None for r in results] == [False, True, False]
    assert results[0] == bart.summarize(texts[:1], SummaryOptions(max_tokens=8))[0]


def test_head_and_error_policies(bart: Seq2SeqSummarizer) -> None:
    document = long_document(500)
    [head] = bart.summarize([document], SummaryOptions(max_tokens=8, truncation="head"))
    assert head.truncated is True and head.chunks is None
    with pytest.raises(InputTooLong) as excinfo:
        bart.summarize([document], SummaryOptions(truncation="error"))
    assert excinfo.value.max_input_tokens == WINDOW
    assert excinfo.value.input_tokens == head.input_tokens
    assert str(WINDOW) in excinfo.value.message


def test_progress_events_for_every_chunk(bart: Seq2SeqSummarizer) -> None:
    events: list[SummaryEvent] = []
    [summary] = bart.summarize([long_document(800)], SummaryOptions(max_tokens=8), on_event=events.append)
    assert summary.chunks is not None
    first_round = [e for e in events if isinstance(e, ProgressEvent) and e.round == 0]
    assert [e.done for e in first_round] == list(range(1, len(summary.chunks) + 1))
    assert {e.total for e in first_round} == {len(summary.chunks)}


def test_token_events_stream_a_greedy_single_pass(bart: Seq2SeqSummarizer) -> None:
    events: list[SummaryEvent] = []
    options = SummaryOptions(max_tokens=12, num_beams=1)
    [summary] = bart.summarize(["The council approved the bridge."], options, on_event=events.append)
    deltas = [e.text for e in events if isinstance(e, TokenEvent)]
    assert len(deltas) >= 1
    assert " ".join("".join(deltas).split()) == summary.summary


def test_a_document_over_the_chunk_limit_is_refused_before_any_model_call(
    bart: Seq2SeqSummarizer, generate_calls: list[tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bart, "max_chunks", 10)
    short, document = "The council met on Tuesday.", long_document(2_000)
    with pytest.raises(TooManyChunks) as refused:
        bart.summarize([short, document], SummaryOptions(max_tokens=8, num_beams=1))
    assert generate_calls == [], "the limit is checked before the model runs, for every document of the call"
    monkeypatch.setattr(bart, "max_chunks", None)
    chunks = len(plan_documents(bart, [document])[0])
    assert refused.value.details == {"chunks": chunks, "max_chunks": 10} and chunks > 10
    monkeypatch.setattr(bart, "max_chunks", chunks)
    [summary] = bart.summarize([document], SummaryOptions(max_tokens=8, num_beams=1))
    assert summary.chunks is not None and len(summary.chunks) == chunks
