"""A summarizer that needs no model: records what it was asked, answers predictably."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from models.acceleration import NOT_APPLICABLE
from models.errors import InputTooLong, UnsupportedOption
from models.longdoc import summarize_by_length
from models.text import count_words, render
from models.types import EventSink, ProgressEvent, Summary, SummaryOptions, TokenEvent

FAIL_MARKER = "PLEASE-FAIL"


class FakeSummarizer:
    """Summary = the first five words. A text containing FAIL_MARKER makes its batch raise; one over
    ``max_input_tokens`` words with truncation "error" is refused (InputTooLong), as a seq2seq model does."""

    kind = "seq2seq"
    acceleration = NOT_APPLICABLE

    def __init__(self, name: str = "fake", max_input_tokens: int = 50) -> None:
        self.name = name
        self._max_input_tokens = max_input_tokens
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()
        self._in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    @property
    def max_input_tokens(self) -> int:
        return self._max_input_tokens

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        return [count_words(text) for text in texts]

    def rows_per_document(self, options: SummaryOptions) -> int:
        return options.num_beams or 1

    def check_options(self, options: SummaryOptions) -> None:
        if options.sentences is not None:
            raise UnsupportedOption("fake models take no sentence count", param="sentences")

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        with self._lock:
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            self.calls.append(list(texts))
            self.threads.add(threading.current_thread().name)
        try:
            longest = max((count_words(text) for text in texts), default=0)
            if options.truncation == "error" and longest > self._max_input_tokens:
                raise InputTooLong(longest, self._max_input_tokens)
            if on_event is not None:
                for index, text in enumerate(texts):
                    on_event(ProgressEvent(index, 1, 1, 0))
                    for word in text.split()[: options.max_tokens or 5]:
                        on_event(TokenEvent(index, word + " "))
            if any(FAIL_MARKER in text for text in texts):
                raise RuntimeError("the fake model broke")
            return [self._one(text, options) for text in texts]
        finally:
            with self._lock:
                self._in_flight -= 1

    def _one(self, text: str, options: SummaryOptions) -> Summary:
        words = text.split()
        head = words[: options.max_tokens or 5]
        tokens = count_words(text)
        return Summary(
            summary=render([" ".join(head)], options.format),
            input_tokens=tokens,
            output_tokens=len(head),
            truncated=tokens > self._max_input_tokens,
        )


class WindowedFake:
    """A seq2seq-like summarizer with a 20-word window whose long inputs go through the library's own
    map-reduce (``models.longdoc``): 2 chunks per model call, each chunk's summary its first 3 words.
    ``sentences(n)`` of 5 words: 20 make 5 chunks and one reduce pass; 40 make 10 chunks and two."""

    kind = "seq2seq"
    acceleration = NOT_APPLICABLE
    max_chunks: int | None = None
    chunk_overlap_tokens = 0
    map_batch_tokens = 40
    default_max_new_tokens = 8

    def __init__(self, name: str = "windowed") -> None:
        self.name = name
        self.calls: list[int] = []  # texts per model call, map and reduce included

    @property
    def max_input_tokens(self) -> int:
        return 20

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        return [count_words(text) for text in texts]

    def rows_per_document(self, options: SummaryOptions) -> int:
        return 1

    def check_options(self, options: SummaryOptions) -> None:
        pass

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]:
        self.calls.append(len(texts))
        return [" ".join(text.split()[:3]).rstrip(".") + "." for text in texts]

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]:
        self.calls.append(len(texts))
        return [Summary(" ".join(text.split()[:5]), count_words(text), min(5, count_words(text))) for text in texts]

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        return summarize_by_length(self, texts, options, on_event)


def sentences(count: int) -> str:
    """``count`` sentences of 5 words each."""
    return " ".join(f"Sentence {i} says five words." for i in range(count))
