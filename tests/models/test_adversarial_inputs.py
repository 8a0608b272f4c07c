"""200,000 characters built to hurt (runs of one character, no sentence ends, one giant word,
CJK without punctuation, thousands of tiny sentences) cost linear time: split, chunked, summarized.

The bounds are generous for a loaded two-core CI machine: the quadratic regex this guards
against took 34 s on 200,000 letters, and chunking them took 65 s.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence

import pytest

from models.chunking import plan_chunks
from models.errors import TooManySentences
from models.extractive import ExtractiveSummarizer
from models.text import split_sentences
from models.types import SummaryOptions

# Runs a model over adversarial documents, with time bounds.
pytestmark = pytest.mark.slow

SIZE = 200_000
LIMIT_S = 3.0  # about 1 s at worst here, unloaded


def adversarial(size: int) -> dict[str, str]:
    return {
        "one letter": "a" * size,
        "spaces": "x" + " " * (size - 2) + "y",
        "periods": "." * size,
        "newlines": "x" + "\n" * (size - 2) + "y",
        "blank lines": "x\n \n" * (size // 4),
        "tiny sentences": "a. " * (size // 3),
        "short words ending sentences": "abc. " * (size // 5),
        "lines": "x\n" * (size // 2),
        "lone periods": ". " * (size // 2),
        "one giant word": "w" * (size // 2) + " " + "v" * (size // 2),
        "cjk without punctuation": "字" * size,
        "cjk sentences": "字。" * (size // 2),
        "abbreviation window": ("a" * 39 + ",. ") * (size // 42),
        "words without an end": "word " * (size // 5),
    }


def seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


_TOKEN = re.compile(r"\S{1,4}|\s+")


def tokens(texts: Sequence[str]) -> list[int]:
    """A tokenizer-like counter: linear in the text, like a real one."""
    return [len(_TOKEN.findall(text)) for text in texts]


def summarize_or_refuse(text: str) -> None:
    with contextlib.suppress(TooManySentences):  # refused after splitting, before the quadratic scoring
        ExtractiveSummarizer().summarize([text], SummaryOptions())


@pytest.mark.parametrize("name", list(adversarial(10)))
def test_each_input_is_split_chunked_and_summarized_in_bounded_time(name: str) -> None:
    text = adversarial(SIZE)[name]
    assert seconds(lambda: split_sentences(text)) < LIMIT_S
    assert seconds(lambda: plan_chunks(text, 62, tokens)) < LIMIT_S
    assert seconds(lambda: summarize_or_refuse(text)) < LIMIT_S


def test_splitting_grows_linearly() -> None:
    """Four times the text takes about four times as long, not sixteen (all inputs together, best of 2)."""

    def total(size: int) -> float:
        texts = list(adversarial(size).values())
        return min(sum(seconds(lambda text=text: split_sentences(text)) for text in texts) for _ in range(2))

    assert total(SIZE) / total(SIZE // 4) < 8
