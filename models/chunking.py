"""Cut a long document into chunks that fit a model's window, on sentence boundaries.

Every chunk is an exact character range of the document (``document[offset:
offset + length] == text``), so a summary can say where each part came from.
Chunks end at sentence (and so paragraph) boundaries; only a sentence longer
than the window on its own is cut inside, at word boundaries (or characters, for
scripts written without spaces). Sizes are first estimated from per-sentence
token counts, then each chunk is counted exactly and shrunk until it fits: the
model never sees more than its window.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from models.text import split_sentences

# Counts the tokens of each text, as the model will see them (no special tokens).
TokenCounter = Callable[[Sequence[str]], list[int]]

_WORD_END = re.compile(r"\S+\s*")


@dataclass(frozen=True, slots=True)
class Span:
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


@dataclass(frozen=True, slots=True)
class Chunk:
    text: str
    offset: int
    length: int


def plan_chunks(document: str, budget: int, count: TokenCounter, *, overlap: int = 0) -> list[Chunk]:
    """Chunks of at most ``budget`` tokens covering every sentence of ``document`` in order.

    ``overlap`` tokens' worth of whole sentences from the end of one chunk start
    the next, so no sentence loses all of its context at a cut.
    """
    if budget < 1:
        raise ValueError("the chunk budget must be at least one token")
    units = _units(document, budget, count)
    sizes = count([document[u.offset : u.end] for u in units])
    chunks: list[Chunk] = []
    start = 0
    while start < len(units):
        end = _fill(units, sizes, start, budget)
        end = _shrink_to_fit(document, units, start, end, budget, count)
        chunks.append(_chunk(document, units[start], units[end - 1]))
        if end >= len(units):
            break
        start = _next_start(sizes, start, end, overlap)
    return chunks


def _units(document: str, budget: int, count: TokenCounter) -> list[Span]:
    """Sentences, with any sentence longer than the budget cut into pieces that fit."""
    sentences = split_sentences(document)
    sizes = count([s.text for s in sentences])
    units: list[Span] = []
    for sentence, size in zip(sentences, sizes, strict=True):
        span = Span(sentence.offset, sentence.length)
        units.extend(_split_long(document, span, budget, count) if size > budget else [span])
    return units


def _split_long(document: str, span: Span, budget: int, count: TokenCounter) -> list[Span]:
    """Cut one over-long sentence at word (else character) boundaries into fitting pieces."""
    text = document[span.offset : span.end]
    cuts: Sequence[int] = [m.end() for m in _WORD_END.finditer(text)]
    if len(cuts) < 2:
        cuts = range(1, len(text) + 1)
    pieces: list[Span] = []
    start = 0
    while start < len(text):
        ends, first = cuts, bisect.bisect_right(cuts, start)  # the candidates are cuts[first:]
        if count([text[start : cuts[first]]])[0] > budget:
            ends, first = range(start + 1, cuts[first] + 1), 0  # one word longer than the window
        fit = _longest_fitting(text, start, ends, first, budget, count)
        piece = text[start:fit]
        stripped_start = start + (len(piece) - len(piece.lstrip()))
        pieces.append(Span(span.offset + stripped_start, len(piece.strip())))
        start = fit
    return [p for p in pieces if p.length > 0]


def _longest_fitting(text: str, start: int, ends: Sequence[int], first: int, budget: int, count: TokenCounter) -> int:
    """The furthest of ``ends[first:]`` whose piece fits; at least one step forward.

    Galloping, then binary search: probes reach at most twice past the piece found, so
    a 200,000-character word costs about its length times a log, not its length per piece.
    """

    def fits(index: int) -> bool:
        return count([text[start : ends[index]]])[0] <= budget

    best, low, high, step = first, first + 1, len(ends) - 1, 1
    while low <= high:
        probe = min(best + step, high)
        if not fits(probe):
            high = probe - 1
            break
        best, low, step = probe, probe + 1, step * 2
    while low <= high:
        middle = (low + high) // 2
        if fits(middle):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return ends[best]


def _fill(units: Sequence[Span], sizes: Sequence[int], start: int, budget: int) -> int:
    """The end (exclusive) of a chunk from ``start``, estimated as the sum of its units."""
    total = sizes[start]
    end = start + 1
    while end < len(units) and total + sizes[end] <= budget:
        total += sizes[end]
        end += 1
    return end


def _shrink_to_fit(document: str, units: Sequence[Span], start: int, end: int, budget: int, count: TokenCounter) -> int:
    """Counted exactly, the most units from ``start`` that fit (a single unit always does); binary search."""

    def fits(stop: int) -> bool:
        return count([document[units[start].offset : units[stop - 1].end]])[0] <= budget

    if end - start <= 1 or fits(end):
        return end
    best, low, high = start + 1, start + 2, end - 1
    while low <= high:
        middle = (low + high) // 2
        if fits(middle):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return best


def _next_start(sizes: Sequence[int], start: int, end: int, overlap: int) -> int:
    """Step back over whole units worth at most ``overlap`` tokens, always moving forward."""
    next_start, carried = end, 0
    while next_start - 1 > start and carried + sizes[next_start - 1] <= overlap:
        next_start -= 1
        carried += sizes[next_start]
    return next_start


def _chunk(document: str, first: Span, last: Span) -> Chunk:
    return Chunk(document[first.offset : last.end], first.offset, last.end - first.offset)
