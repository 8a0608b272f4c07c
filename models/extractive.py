"""Unsupervised extractive summarization: position-aware directed centrality.

No weights, no downloads, any language. For each document:

1. split it into sentences (``models.text.split_sentences``, exact offsets);
2. represent each sentence as a tf-idf vector over its words, where the idf is
   computed inside the document (sentences are the "documents"), so words that
   occur everywhere in this text weigh little;
3. score sentences by PacSum-style *directed* centrality (Zheng & Lapata, 2019):
   a sentence is central when the sentences *after* it echo it, while similarity
   to earlier sentences counts against it (news and papers state the point first
   and elaborate later). A mild position prior and a penalty for fragments
   (headings, datelines, one-line questions) are folded in;
4. pick sentences greedily by score with a redundancy check until a word budget
   of 40 words plus about 5% of the document is met (about 3 sentences for a news
   story, 250 words for a 4,000-word paper), and return them in document order.

See ``docs/quality.md`` for the measured effect of each of these choices.

Optionally, sentence embeddings (``ExtractiveSummarizer(embedder=...)``, see
``models.embeddings``) replace the tf-idf cosine in steps 3 and 4; the query
relevance stays lexical.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

from models.acceleration import NOT_APPLICABLE, Acceleration
from models.errors import InvalidInput, TooManySentences, UnsupportedOption
from models.options import check_options as check_bounds
from models.planning import estimate_tokens
from models.sentence_graph import Vectors, dense, directed_centrality, query_relevance, tfidf, unit
from models.text import Sentence, count_words, render, split_sentences
from models.types import DEFAULT_MAX_SENTENCES, EventSink, ModelKind, ScoredSentence, Summary, SummaryOptions
from models.yielding import check_abandoned

if TYPE_CHECKING:
    from models.embeddings import Embedder

# Options that only make sense for a text generator.
_GENERATION_ONLY = ("num_beams", "length_penalty", "no_repeat_ngram_size")
# Options only models that write text honour: why each one is refused here.
_INSTRUCT_ONLY = {
    "language": "the extractive model copies the document's sentences; it cannot write in another language",
    "temperature": "the extractive model does not sample: its summary is the same every time",
    "seed": "the extractive model does not sample: its summary is the same every time",
}
# Word budget multipliers of the length presets, relative to the automatic length.
_PRESET_SCALE = {"short": 0.5, "medium": 1.0, "long": 2.0}
# With a query, this share of the score stays with the generic ranking, the rest is relevance.
_QUERY_PRIOR = 0.3


@dataclass(frozen=True, slots=True)
class ExtractiveConfig:
    """Tuning knobs of the method; the defaults are the measured best (docs/quality.md)."""

    # PacSum edge threshold: similarities below min + beta * (max - min) count as no edge.
    beta: float = 0.1
    # Weights of similarity to earlier sentences and to later ones.
    lambda_backward: float = -1.0
    lambda_forward: float = 1.0
    # Weight of the position prior 1 / (1 + position) ** position_decay.
    position_weight: float = 0.5
    position_decay: float = 0.5
    # Sentences with fewer words than this are fragments (headings, datelines) and score down.
    min_words: int = 6
    fragment_penalty: float = 0.3
    # Score multiplier of direct speech and questions (a quote mark at either end, or "?").
    speech_penalty: float = 0.7
    # Ranking divides the score by (words / mean words) ** length_power: long sentences cost budget.
    length_power: float = 0.15
    # A candidate this similar (cosine) to a chosen sentence is skipped as redundant.
    redundancy: float = 0.6
    # Automatic budget: budget_base + budget_scale * document_words ** budget_power words.
    budget_base: float = 40.0
    budget_scale: float = 0.0525
    budget_power: float = 1.0
    # When a sentence would overshoot the budget, try shorter lower-ranked ones (True) or stop.
    fill: bool = False
    # Truncate words to this many characters: a cheap, language-neutral stemmer.
    stem_chars: int = 6


class ExtractiveSummarizer:
    """Picks whole sentences from the document; thread-safe (no mutable state).

    With an ``embedder`` (``models.embeddings.SentenceEmbedder``), the cosine of
    sentence embeddings replaces the tf-idf cosine in the centrality and the
    redundancy check (see "Embedding variant" in docs/quality.md); without one,
    no weights are used.
    """

    kind: ModelKind = "extractive"
    acceleration: Acceleration = NOT_APPLICABLE  # no speed paths to take

    def __init__(
        self,
        name: str = "extractive",
        *,
        config: ExtractiveConfig | None = None,
        embedder: Embedder | None = None,
        max_sentences: int | None = DEFAULT_MAX_SENTENCES,
    ) -> None:
        self.name = name
        self._config = config or ExtractiveConfig()
        self._embedder = embedder
        # Scoring is quadratic in sentences: more than this is refused (TooManySentences), None lifts it.
        self.max_sentences = max_sentences

    @property
    def max_input_tokens(self) -> int | None:
        return None

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        """No tokenizer and no window: estimated, for planning calls."""
        return [estimate_tokens(text) for text in texts]

    def rows_per_document(self, options: SummaryOptions) -> int:
        return 1

    def check_options(self, options: SummaryOptions) -> None:
        check_bounds(options)
        for param in _GENERATION_ONLY:
            if options.is_set(param):
                raise UnsupportedOption(f"{param} applies only to generative models", param=param)
        for param, reason in _INSTRUCT_ONLY.items():
            if options.is_set(param):
                raise UnsupportedOption(f"`{param}` is for instruct models: {reason}", param=param)

    def summarize(
        self, texts: Sequence[str], options: SummaryOptions, *, on_event: EventSink | None = None
    ) -> list[Summary]:
        # One fast pass over any length: nothing to report before the summary itself.
        del on_event
        self.check_options(options)
        if self._embedder is None:
            summaries = []
            for text in texts:
                check_abandoned()  # between documents: a call nobody waits for stops (models.yielding)
                summaries.append(self._summarize_one(text, options))
            return summaries
        return self._summarize_embedded(texts, options, self._embedder)

    def _summarize_embedded(self, texts: Sequence[str], options: SummaryOptions, embedder: Embedder) -> list[Summary]:
        for text in texts:
            _check_text(text)
        split = [self._split(text) for text in texts]
        # One encoder call for the whole batch: it batches sentences across documents.
        vectors = embedder.embed([s.text for sentences in split for s in sentences])
        bounds = np.cumsum([0, *(len(sentences) for sentences in split)])
        if vectors.shape[0] != bounds[-1]:
            raise RuntimeError(f"the embedder returned {vectors.shape[0]} vectors for {bounds[-1]} sentences")
        return [
            self._summarize_one(text, options, (sentences, vectors[bounds[i] : bounds[i + 1]]))
            for i, (text, sentences) in enumerate(zip(texts, split, strict=True))
        ]

    def _summarize_one(
        self, text: str, options: SummaryOptions, embedded: tuple[list[Sentence], np.ndarray] | None = None
    ) -> Summary:
        _check_text(text)
        sentences = self._split(text) if embedded is None else embedded[0]
        words = np.array([count_words(s.text) for s in sentences], dtype=np.int64)
        matrix, vocabulary = tfidf([s.text for s in sentences], self._config.stem_chars)
        similar: Vectors = matrix if embedded is None else embedded[1]
        scores = self._score(sentences, words, similar, (matrix, vocabulary), options.query)
        chosen = _select(
            _Candidates(scores, words, similar), budget=self._target(words, options), options=options, cfg=self._config
        )
        picked = [
            ScoredSentence(sentences[i].text, sentences[i].offset, sentences[i].length, round(float(scores[i]), 6))
            for i in sorted(chosen)
        ]
        return Summary(
            summary=render([s.text for s in picked], options.format),
            input_tokens=count_words(text),
            output_tokens=int(words[chosen].sum()),
            truncated=False,
            sentences=tuple(picked),
        )

    def _split(self, text: str) -> list[Sentence]:
        """The sentences, refused before any scoring when there are more than the limit."""
        sentences = split_sentences(text)
        if self.max_sentences is not None and len(sentences) > self.max_sentences:
            raise TooManySentences(len(sentences), self.max_sentences)
        return sentences

    def _target(self, words: np.ndarray, options: SummaryOptions) -> float:
        """The word budget: automatic, scaled by the preset, floored and capped by the caller."""
        cfg = self._config
        budget = automatic_budget(int(words.sum()), cfg)
        budget *= _PRESET_SCALE[options.length or "medium"]
        if options.min_tokens is not None:
            budget = max(budget, float(options.min_tokens))
        if options.max_tokens is not None:
            budget = min(budget, float(options.max_tokens))
        return budget

    def _score(
        self,
        sentences: Sequence[Sentence],
        words: np.ndarray,
        similar: Vectors,
        tfidf: tuple[sparse.csr_matrix, dict[str, int]],
        query: str | None,
    ) -> np.ndarray:
        """One score in [0, 1] per sentence; higher is picked first."""
        cfg = self._config
        centrality = directed_centrality(similar, cfg.beta, cfg.lambda_forward, cfg.lambda_backward)
        position = 1.0 / (1.0 + np.arange(len(sentences))) ** cfg.position_decay
        scores = unit(centrality) + cfg.position_weight * position
        scores = np.where(words < cfg.min_words, scores * cfg.fragment_penalty, scores)
        speech = np.fromiter((_is_speech(s.text) for s in sentences), dtype=bool, count=len(sentences))
        scores = unit(np.where(speech, scores * cfg.speech_penalty, scores))
        # Slightly favour shorter sentences: the budget is in words, and long ones dilute precision.
        scores = unit(scores / (np.maximum(words, 1) / max(float(words.mean()), 1.0)) ** cfg.length_power)
        if query:
            # Lexical even with an embedder: a query names what it wants (not measurable on our sets).
            relevance = query_relevance(*tfidf, query, cfg.stem_chars)
            if relevance.max() > 0:
                # Relevance dominates: a caller who asks about X wants X, not the lead.
                scores = _QUERY_PRIOR * scores + (1.0 - _QUERY_PRIOR) * unit(relevance)
        return np.asarray(scores, dtype=np.float64)


def _check_text(text: str) -> None:
    if not text.strip():
        raise InvalidInput("the document has no text")


_QUOTES = "\"“”„«»「」『』'`"


def _is_speech(text: str) -> bool:
    return text[0] in _QUOTES or text[-1] in _QUOTES or text.endswith(("?", '?"', "? ''"))


@dataclass(frozen=True, slots=True)
class _Candidates:
    scores: np.ndarray
    words: np.ndarray
    vectors: Vectors  # unit-length rows: a dot product is a cosine


class _Redundancy:
    """Each sentence's highest cosine to any chosen one, updated once per choice.

    One product per chosen sentence instead of one per candidate looked at: a document
    of thousands of short sentences, most of them redundant, costs a few products.
    """

    def __init__(self, vectors: Vectors) -> None:
        self._vectors = vectors
        self._closest = np.full(vectors.shape[0], -np.inf)

    def chose(self, index: int) -> None:
        similarity = dense(self._vectors @ self._vectors[index].T).ravel()
        np.maximum(self._closest, similarity, out=self._closest)

    def redundant(self, index: int, limit: float) -> bool:
        return bool(self._closest[index] > limit)


def _select(candidates: _Candidates, *, budget: float, options: SummaryOptions, cfg: ExtractiveConfig) -> list[int]:
    """Greedy by score, skipping redundant sentences, until the count or the word budget is met.

    ``sentences`` is an exact count (capped at what the document has) and wins
    over the word options; ``max_tokens`` is a hard cap except that a summary
    always keeps at least one sentence; ``min_tokens`` is a floor.
    """
    scores, words = candidates.scores, candidates.words
    order = [int(i) for i in np.lexsort((np.arange(len(scores)), -scores))]  # ties: earlier sentence first
    wanted = min(options.sentences, len(order)) if options.sentences is not None else None
    chosen: list[int] = []
    taken: set[int] = set()
    redundancy = _Redundancy(candidates.vectors)
    total = 0

    def done() -> bool:
        if wanted is not None:
            return len(chosen) >= wanted
        return bool(chosen) and total >= budget

    for allow_redundant in (False, True):  # second pass only if the first ran out of sentences
        for i in order:
            if done():
                break
            if i in taken or (not allow_redundant and redundancy.redundant(i, cfg.redundancy)):
                continue
            size = int(words[i])
            if options.max_tokens is not None and chosen and total + size > options.max_tokens:
                continue
            floor_unmet = options.min_tokens is not None and total < options.min_tokens
            if wanted is None and chosen and not floor_unmet and total + size - budget > budget - total:
                # Overshooting would land further from the budget than stopping here.
                if cfg.fill:
                    continue
                break
            chosen.append(i)
            taken.add(i)
            if not allow_redundant:
                redundancy.chose(i)
            total += size
        else:
            continue
        break
    return chosen or order[:1]


def automatic_budget(document_words: int, cfg: ExtractiveConfig | None = None) -> float:
    """The automatic word budget for a document of this many words (for docs and tests)."""
    cfg = cfg or ExtractiveConfig()
    return float(cfg.budget_base + cfg.budget_scale * max(document_words, 0) ** cfg.budget_power)


__all__ = ["ExtractiveConfig", "ExtractiveSummarizer", "automatic_budget"]
