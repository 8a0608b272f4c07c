"""Grounding a summary in its source: evidence ranges per sentence, unsupported spans, a consistency score.

``ground(source, summary)`` checks any summary against the text it claims to
summarize, whoever wrote it. It needs no weights and runs in a few milliseconds for
a news article (docs/quality.md, "Grounding"). For each summary sentence it returns

- ``support``: the source ranges (one or two consecutive sentences each) that hold
  most of its content words, best first, each an exact ``(offset, length)`` of the source;
- ``unsupported``: the names, numbers, dates and quoted words of the sentence that
  appear nowhere in the source after normalization (``models.grounding_tokens``);
- ``supported`` in [0, 1], and the summary's ``consistency`` is their mean.

The score is lexical, measured against human judgments (QAGS). Two things lower it:

- content the source does not contain: each unsupported content word costs 0.3 in
  log-space (a number 0.6, as a wrong number is a wrong fact; an inflected verb or a
  word sharing its first 4 letters with a source word 0.15, as those are mostly
  paraphrase);
- phrasing not found in the source: with ``t`` the share of the sentence's word
  trigrams that occur in a source sentence, ``0.75 * (1 - clip(2t - 1))``. It catches
  the splices of extractive-looking models ("patients stop taking medication no
  longer exist"), and is flat below ``t = 0.5`` so that paraphrase is not punished
  for how far it rewords.

``supported = exp(-cost)``: a sentence copied from the source scores 1, a paraphrase
whose words are all in the source about 0.47 (the words are there; the relation
between them cannot be checked lexically), and each unsupported word pulls it lower.
The summary's ``consistency`` is the mean over its sentences (QAGS-CNN labels are
the share of supported sentences).
"""

from __future__ import annotations

import dataclasses
import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from itertools import pairwise

from models.grounding_flags import is_cased, quoted_ranges, unsupported_spans
from models.grounding_result import Evidence, GroundedSentence, Grounding, Span
from models.grounding_tokens import FUNCTION, NUMBER, Token, source_keys, tokenize
from models.text import Sentence, split_sentences
from models.types import ChunkSummary, Summary, SummaryOptions

# Log-space cost of one unsupported content word, and the multipliers by kind of word.
NOVEL_COST = 0.3
NUMBER_WEIGHT = 2.0
PARAPHRASE_WEIGHT = 0.5
# Trigram coverage below which phrasing earns nothing, and the cost of phrasing that earns nothing.
COPY_FLOOR = 0.5
PHRASING_COST = 0.75
# Evidence: at most this many ranges per sentence, each adding this share of the sentence's content.
MAX_EVIDENCE = 3
MIN_GAIN = 0.1
_NEAR_PREFIX = 4


def ground(source: str, summary: str, *, regions: Sequence[tuple[int, int]] | None = None) -> Grounding:
    """Evidence and unsupported content for each sentence of ``summary``, searched in ``source``.

    ``regions`` are ``(offset, length)`` ranges of the source to search instead of all
    of it (the chunks of a map-reduce summary), so the cost follows what was read.
    """
    return SourceIndex(source, regions=regions).ground(summary)


def attach_grounding(texts: Sequence[str], summaries: Sequence[Summary], options: SummaryOptions) -> list[Summary]:
    """Each summary with its grounding in its source text (map-reduce summaries in their chunks), unless
    ``options.grounding`` is False. For summarizers that write new text; a few milliseconds a summary."""
    if options.grounding is False:
        return list(summaries)
    return [
        dataclasses.replace(
            summary,
            grounding=ground_chunked(text, summary.summary, summary.chunks)
            if summary.chunks
            else ground(text, summary.summary),
        )
        for text, summary in zip(texts, summaries, strict=True)
    ]


def ground_chunked(source: str, summary: str, chunks: Sequence[ChunkSummary]) -> Grounding:
    """Grounding of a map-reduce summary: each sentence's evidence is searched in the chunks that fed it.

    A summary sentence was fed by the chunks whose partial summaries (the map step's
    ``ChunkSummary.summary``) hold its words, found the way evidence is found; its
    evidence is then searched in those chunks of the source only. A sentence that
    matches no partial summary is searched in every chunk. What counts as unsupported
    is judged against all the chunks.
    """
    if not chunks:
        return ground(source, summary)
    index = SourceIndex(source, regions=[(c.offset, c.length) for c in chunks])
    spans: list[tuple[int, int]] = []  # each partial summary's range in the joined text
    position = 0
    for chunk in chunks:
        spans.append((position, len(chunk.summary)))
        position += len(chunk.summary) + 2
    partials = SourceIndex("\n\n".join(c.summary for c in chunks), regions=spans)
    members = [index.sentences_within(c.offset, c.length) for c in chunks]
    everything = frozenset(range(len(index.sentences)))

    def excluded(tokens: list[Token]) -> AbstractSet[int]:
        fed = {
            i
            for e in partials._evidence(tokens)
            for i, (start, length) in enumerate(spans)
            if start <= e.offset < start + length
        }
        return everything.difference(*(members[i] for i in fed)) if fed else frozenset()

    return index._ground(summary, excluded)


class SourceIndex:
    """A source prepared once for grounding any number of summaries against it.

    Read-only once built, so one index may serve several threads.
    """

    def __init__(self, source: str, *, regions: Sequence[tuple[int, int]] | None = None) -> None:
        self.source = source
        self.sentences: list[Sentence] = []
        self._region_of: list[int] = []  # evidence windows never straddle two regions
        keys: set[str] = set()
        self._grams: set[tuple[str, ...]] = set()
        self._postings: dict[str, list[int]] = {}
        spans = _merged_regions(regions, len(source))
        for number, (start, end) in enumerate(spans):
            for sentence, tokens in _sentences_with_tokens(source[start:end], start):
                self._add_sentence(sentence, tokens, number, keys)
        self.keys = source_keys(keys, "\n".join(source[start:end] for start, end in spans))
        self._prefixes = {k[:_NEAR_PREFIX] for k in self.keys if len(k) > _NEAR_PREFIX}
        count = len(self.sentences)
        self._idf = {k: math.log((count + 1) / (len(ids) + 0.5)) for k, ids in self._postings.items()}
        self._novel_idf = math.log((count + 1) / 0.5)

    def _add_sentence(self, sentence: Sentence, tokens: list[Token], region: int, keys: set[str]) -> None:
        index = len(self.sentences)
        self.sentences.append(sentence)
        self._region_of.append(region)
        sequence = [t.key for t in tokens]
        keys.update(sequence)
        self._grams.update(zip(sequence, sequence[1:], sequence[2:], strict=False))
        self._grams.update(pairwise(sequence))
        for key in {t.key for t in tokens if t.kind != FUNCTION}:
            self._postings.setdefault(key, []).append(index)

    def ground(self, summary: str) -> Grounding:
        """Evidence, unsupported spans and scores for each sentence of ``summary``."""
        return self._ground(summary, lambda tokens: frozenset())

    def _ground(self, summary: str, excluded: Callable[[list[Token]], AbstractSet[int]]) -> Grounding:
        """``excluded(tokens)``: the source sentences a summary sentence's evidence may not come from."""
        parts = list(_sentences_with_tokens(summary, 0))
        cased = is_cased([tokens for _, tokens in parts])
        quotes = quoted_ranges(summary)
        grounded: list[GroundedSentence] = []
        for sentence, tokens in parts:
            flags = unsupported_spans(
                summary, tokens, self.keys, cased=cased, quotes=quotes, is_paraphrase=self._is_paraphrase
            )
            support = self._evidence(tokens, excluded(tokens))
            grounded.append(
                GroundedSentence(
                    sentence.text, sentence.offset, sentence.length, support, self._supported(tokens), flags
                )
            )
        # Sentences without a word ("...") claim nothing; a summary that says nothing claims nothing false.
        scores = [g.supported for g, (_, tokens) in zip(grounded, parts, strict=True) if tokens]
        consistency = sum(scores) / len(scores) if scores else 1.0
        return Grounding(round(consistency, 4), tuple(grounded))

    def sentences_within(self, offset: int, length: int) -> frozenset[int]:
        """Indices of the indexed source sentences that overlap ``source[offset:offset + length]``."""
        end = offset + length
        return frozenset(i for i, s in enumerate(self.sentences) if s.offset < end and s.end > offset)

    def _supported(self, tokens: list[Token]) -> float:
        if not tokens:
            return 1.0
        novelty = sum(self._novel_weight(t) for t in tokens if t.kind != FUNCTION and t.key not in self.keys)
        copied = min(1.0, max(0.0, (self._phrase_coverage(tokens) - COPY_FLOOR) / (1.0 - COPY_FLOOR)))
        return round(math.exp(-NOVEL_COST * novelty - PHRASING_COST * (1.0 - copied)), 4)

    def _novel_weight(self, token: Token) -> float:
        if token.kind == NUMBER:
            return NUMBER_WEIGHT
        return PARAPHRASE_WEIGHT if self._is_paraphrase(token) else 1.0

    def _is_paraphrase(self, token: Token) -> bool:
        """An unmatched word that is likely a rewording: an inflected verb, or a near-miss of a source word."""
        key = token.key
        return token.inflected or (len(key) > _NEAR_PREFIX and key[:_NEAR_PREFIX] in self._prefixes)

    def _phrase_coverage(self, tokens: list[Token]) -> float:
        """Share of the sentence's word trigrams (bigrams, words, for shorter ones) found in a source sentence."""
        keys = [t.key for t in tokens]
        order = min(3, len(keys))
        grams = list(zip(*(keys[i:] for i in range(order)), strict=False))
        if order == 1:
            return sum(k in self.keys for (k,) in grams) / len(grams)
        return sum(g in self._grams for g in grams) / len(grams)

    def _evidence(self, tokens: list[Token], excluded: AbstractSet[int] = frozenset()) -> tuple[Evidence, ...]:
        """Greedy cover of the sentence's content words by windows of one or two source sentences.

        Words weigh their rarity in the source (idf over its sentences); words the
        source lacks weigh the most, so no window of a sentence with invented content
        scores 1.
        """
        weights = {t.key: self._idf.get(t.key, self._novel_idf) for t in tokens if t.kind != FUNCTION}
        total = sum(weights.values())
        remaining = {k: w for k, w in weights.items() if k in self._postings}
        # A range must add a tenth of what the source can support at all.
        threshold = MIN_GAIN * sum(remaining.values())
        found: list[Evidence] = []
        used = set(excluded)
        while remaining and len(found) < MAX_EVIDENCE:
            window = self._best_window(remaining, used, threshold)
            if window is None:
                break
            first, last = window
            used.update(range(first, last + 1))
            inside = {k for k in weights if self._in_window(k, first, last)}
            start, end = self.sentences[first].offset, self.sentences[last].end
            found.append(Evidence(start, end - start, round(sum(weights[k] for k in inside) / total, 4)))
            remaining = {k: w for k, w in remaining.items() if k not in inside}
        return tuple(sorted(found, key=lambda e: -e.score))

    def _best_window(self, remaining: dict[str, float], used: set[int], threshold: float) -> tuple[int, int] | None:
        """The sentence holding most of ``remaining``, with the neighbour that adds most if it adds enough."""
        gains = _accumulate(remaining, self._postings, used)
        best = max(gains, key=lambda i: (gains[i], -i), default=None)
        if best is None or gains[best] < threshold:
            return None
        region = self._region_of[best]
        extras = {
            i: self._extra(remaining, best, i)
            for i in (best - 1, best + 1)
            if i in gains and self._region_of[i] == region
        }
        neighbour = max(extras, key=lambda i: (extras[i], -i), default=None)
        if neighbour is None or extras[neighbour] < threshold:
            return best, best
        return min(best, neighbour), max(best, neighbour)

    def _extra(self, remaining: dict[str, float], base: int, other: int) -> float:
        """Weight of the words of ``remaining`` in sentence ``other`` but not in ``base``."""
        return sum(w for k, w in remaining.items() if other in self._postings[k] and base not in self._postings[k])

    def _in_window(self, key: str, first: int, last: int) -> bool:
        return any(first <= i <= last for i in self._postings.get(key, ()))


def _accumulate(remaining: dict[str, float], postings: dict[str, list[int]], used: set[int]) -> dict[int, float]:
    gains: dict[int, float] = {}
    for key, weight in remaining.items():
        for i in postings[key]:
            if i not in used:
                gains[i] = gains.get(i, 0.0) + weight
    return gains


def _merged_regions(regions: Sequence[tuple[int, int]] | None, size: int) -> list[tuple[int, int]]:
    """``(start, end)`` of the regions in order, overlaps merged (chunks may overlap)."""
    if regions is None:
        return [(0, size)]
    spans: list[tuple[int, int]] = []
    for offset, length in regions:
        if offset < 0 or length < 0 or offset + length > size:
            raise ValueError(f"region ({offset}, {length}) is outside the source (length {size})")
        spans.append((offset, offset + length))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _sentences_with_tokens(text: str, shift: int) -> Iterable[tuple[Sentence, list[Token]]]:
    """The sentences of ``text`` with their tokens, offsets moved by ``shift`` into the enclosing text.

    The text is tokenized once, not per sentence, so a number cut by the splitter
    ("122 . 5" in tokenized text) stays one token (it goes with the sentence it starts in).
    """
    sentences = split_sentences(text)
    tokens = tokenize(text)
    starts = [t.start for t in tokens]
    for index, sentence in enumerate(sentences):
        first = bisect_left(starts, sentence.offset) if index else 0
        end = sentences[index + 1].offset if index + 1 < len(sentences) else len(text)
        own = tokens[first : bisect_left(starts, end, first)]
        if shift:
            own = [t._replace(start=t.start + shift, end=t.end + shift) for t in own]
            yield Sentence(sentence.text, sentence.offset + shift, sentence.length), own
        else:
            yield sentence, own


__all__ = ["Evidence", "GroundedSentence", "Grounding", "SourceIndex", "Span", "ground", "ground_chunked"]
