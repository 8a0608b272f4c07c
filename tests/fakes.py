"""A summarizer that needs no model: records what it was asked, answers predictably."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from models.acceleration import NOT_APPLICABLE
from models.errors import InputTooLong, UnsupportedOption
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
