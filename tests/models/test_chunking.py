from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from models.chunking import Chunk, plan_chunks


def words(texts: Sequence[str]) -> list[int]:
    return [len(text.split()) for text in texts]


def chars(texts: Sequence[str]) -> list[int]:
    return [len(text) for text in texts]


def assert_exact_and_covering(document: str, chunks: list[Chunk]) -> None:
    covered = set()
    for chunk in chunks:
        assert document[chunk.offset : chunk.offset + chunk.length] == chunk.text
        covered.update(range(chunk.offset, chunk.offset + chunk.length))
    assert [c.offset for c in chunks] == sorted(c.offset for c in chunks)
    assert all(i in covered for i, ch in enumerate(document) if not ch.isspace())


DOCUMENT = " ".join(f"Sentence number {i} has exactly seven words." for i in range(40))


def test_chunks_fit_end_at_sentences_and_cover_the_document() -> None:
    chunks = plan_chunks(DOCUMENT, budget=30, count=words)
    assert_exact_and_covering(DOCUMENT, chunks)
    assert all(len(c.text.split()) <= 30 for c in chunks)
    assert all(c.text.endswith(".") for c in chunks)
    assert len(chunks) == 10  # four seven-word sentences per chunk


def test_a_document_that_fits_is_one_chunk() -> None:
    assert plan_chunks("Short. Text.", budget=10, count=words) == [Chunk("Short. Text.", 0, 12)]


def test_overlap_repeats_whole_sentences() -> None:
    chunks = plan_chunks(DOCUMENT, budget=30, count=words, overlap=7)
    assert_exact_and_covering(DOCUMENT, chunks)
    for previous, following in itertools.pairwise(chunks):
        assert following.offset < previous.offset + previous.length
        last_sentence = previous.text.rsplit(". ", 1)[-1]
        assert following.text.startswith(last_sentence)


def test_a_sentence_longer_than_the_budget_is_cut_at_words() -> None:
    document = "Short start. " + " ".join(f"w{i}" for i in range(95)) + ". Short end."
    chunks = plan_chunks(document, budget=20, count=words)
    assert_exact_and_covering(document, chunks)
    assert all(len(c.text.split()) <= 20 for c in chunks)
    assert not any(c.text.startswith(" ") or c.text.endswith(" ") for c in chunks)


def test_text_without_spaces_and_giant_words_are_cut_by_characters() -> None:
    document = "这是一个很长的句子" * 30 + "。" + "x" * 500
    chunks = plan_chunks(document, budget=50, count=chars)
    assert_exact_and_covering(document, chunks)
    assert all(len(c.text) <= 50 for c in chunks)


def test_estimates_that_undercount_are_corrected_exactly() -> None:
    # Joining sentences costs more than the estimate's one token per cut.
    def costly_joins(texts: Sequence[str]) -> list[int]:
        return [len(t.split()) + 3 * t.count(". ") for t in texts]

    chunks = plan_chunks(DOCUMENT, budget=30, count=costly_joins)
    assert_exact_and_covering(DOCUMENT, chunks)
    assert all(costly_joins([c.text])[0] <= 30 for c in chunks)


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        plan_chunks("x", budget=0, count=words)
