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

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

import numpy as np
from scipy import sparse

from models.errors import InvalidInput, TooManySentences, UnsupportedOption
from models.options import check_options as check_bounds
from models.planning import estimate_tokens
from models.text import Sentence, count_words, render, split_sentences
from models.types import DEFAULT_MAX_SENTENCES, EventSink, ModelKind, ScoredSentence, Summary, SummaryOptions
from models.yielding import check_abandoned

if TYPE_CHECKING:
    from models.embeddings import Embedder

# Sentence vectors: tf-idf rows (sparse) or embeddings (dense); both have unit-length rows.
_Vectors: TypeAlias = sparse.csr_matrix | np.ndarray

# Options that only make sense for a text generator.
_GENERATION_ONLY = ("num_beams", "length_penalty", "no_repeat_ngram_size")
# Word budget multipliers of the length presets, relative to the automatic length.
_PRESET_SCALE = {"short": 0.5, "medium": 1.0, "long": 2.0}
# With a query, this share of the score stays with the generic ranking, the rest is relevance.
_QUERY_PRIOR = 0.3
# Rows of the sentence-similarity matrix computed at once (bounds memory on huge inputs).
_BLOCK_ROWS = 1024

# Words for similarity: runs of letters/digits, and CJK/kana/hangul one character each
# (those scripts do not separate words with spaces).
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


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
        matrix, vocabulary = _tfidf([s.text for s in sentences], self._config.stem_chars)
        similar: _Vectors = matrix if embedded is None else embedded[1]
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
        similar: _Vectors,
        tfidf: tuple[sparse.csr_matrix, dict[str, int]],
        query: str | None,
    ) -> np.ndarray:
        """One score in [0, 1] per sentence; higher is picked first."""
        cfg = self._config
        centrality = _directed_centrality(similar, cfg)
        position = 1.0 / (1.0 + np.arange(len(sentences))) ** cfg.position_decay
        scores = _unit(centrality) + cfg.position_weight * position
        scores = np.where(words < cfg.min_words, scores * cfg.fragment_penalty, scores)
        speech = np.fromiter((_is_speech(s.text) for s in sentences), dtype=bool, count=len(sentences))
        scores = _unit(np.where(speech, scores * cfg.speech_penalty, scores))
        # Slightly favour shorter sentences: the budget is in words, and long ones dilute precision.
        scores = _unit(scores / (np.maximum(words, 1) / max(float(words.mean()), 1.0)) ** cfg.length_power)
        if query:
            # Lexical even with an embedder: a query names what it wants (not measurable on our sets).
            relevance = _query_relevance(*tfidf, query, cfg.stem_chars)
            if relevance.max() > 0:
                # Relevance dominates: a caller who asks about X wants X, not the lead.
                scores = _QUERY_PRIOR * scores + (1.0 - _QUERY_PRIOR) * _unit(relevance)
        return np.asarray(scores, dtype=np.float64)


def _check_text(text: str) -> None:
    if not text.strip():
        raise InvalidInput("the document has no text")


_QUOTES = "\"“”„«»「」『』'`"


def _is_speech(text: str) -> bool:
    return text[0] in _QUOTES or text[-1] in _QUOTES or text.endswith(("?", '?"', "? ''"))


def _tokens(text: str, stem_chars: int) -> list[str]:
    return [t[:stem_chars] for t in _TOKEN.findall(text.lower())]


def _tfidf(texts: Sequence[str], stem_chars: int) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Row-normalized sublinear tf-idf, idf over this document's sentences."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        for token in _tokens(text, stem_chars):
            rows.append(row)
            cols.append(vocabulary.setdefault(token, len(vocabulary)))
    n = len(texts)
    data = np.ones(len(rows), dtype=np.float64)
    counts = sparse.csr_matrix((data, (rows, cols)), shape=(n, max(len(vocabulary), 1)))
    counts.sum_duplicates()
    df = np.bincount(counts.indices, minlength=counts.shape[1])
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    counts.data = (1.0 + np.log(counts.data)) * idf[counts.indices]
    norms = np.sqrt(counts.multiply(counts).sum(axis=1)).A1
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ counts), vocabulary


def _directed_centrality(matrix: _Vectors, cfg: ExtractiveConfig) -> np.ndarray:
    """PacSum: lambda_forward * edges to later sentences + lambda_backward * edges to earlier ones.

    The cosine matrix is built in row blocks so that a book-length input needs
    O(block * n) memory, not O(n^2). Within a block only the square on the diagonal
    mixes earlier and later columns; the rest is summed whole.
    """
    n = matrix.shape[0]
    if n < 2:
        return np.zeros(n)
    low, high = np.inf, -np.inf
    for start, block in _similarity_blocks(matrix):
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = np.nan  # a sentence is not its own neighbour
        low, high = min(low, float(np.nanmin(block))), max(high, float(np.nanmax(block)))
    threshold = low + cfg.beta * (high - low)
    forward = np.zeros(n)
    backward = np.zeros(n)
    for start, block in _similarity_blocks(matrix):
        stop = start + block.shape[0]
        edges = np.clip(block - threshold, 0.0, None, out=block)
        square = edges[:, start:stop]
        forward[start:stop] = edges[:, stop:].sum(axis=1) + np.triu(square, 1).sum(axis=1)
        backward[start:stop] = edges[:, :start].sum(axis=1) + np.tril(square, -1).sum(axis=1)
    return cfg.lambda_forward * forward + cfg.lambda_backward * backward


def _similarity_blocks(matrix: _Vectors) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, matrix.shape[0], _BLOCK_ROWS):
        yield start, _dense(matrix[start : start + _BLOCK_ROWS] @ matrix.T)


def _dense(values: sparse.spmatrix | np.ndarray) -> np.ndarray:
    """A sparse or dense product as a float64 ndarray (float32 embeddings included)."""
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=np.float64)
    return np.asarray(values.toarray())


def _query_relevance(matrix: sparse.csr_matrix, vocabulary: dict[str, int], query: str, stem_chars: int) -> np.ndarray:
    columns = sorted({vocabulary[t] for t in _tokens(query, stem_chars) if t in vocabulary})
    if not columns:
        return np.zeros(matrix.shape[0])
    return np.asarray(matrix[:, columns].sum(axis=1)).ravel()


def _unit(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector becomes all ones."""
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.ones_like(values, dtype=np.float64)
    return (values - low) / (high - low)


@dataclass(frozen=True, slots=True)
class _Candidates:
    scores: np.ndarray
    words: np.ndarray
    vectors: _Vectors  # unit-length rows: a dot product is a cosine


class _Redundancy:
    """Each sentence's highest cosine to any chosen one, updated once per choice.

    One product per chosen sentence instead of one per candidate looked at: a document
    of thousands of short sentences, most of them redundant, costs a few products.
    """

    def __init__(self, vectors: _Vectors) -> None:
        self._vectors = vectors
        self._closest = np.full(vectors.shape[0], -np.inf)

    def chose(self, index: int) -> None:
        similarity = _dense(self._vectors @ self._vectors[index].T).ravel()
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
