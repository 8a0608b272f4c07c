"""The sentence graph of the extractive summarizer: tf-idf vectors, cosine blocks, directed centrality.

Pure numpy and scipy on one document's sentences; ``models.extractive`` decides what
to do with the scores (position, fragments, speech, budget and redundancy).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TypeAlias

import numpy as np
from scipy import sparse

# Sentence vectors: tf-idf rows (sparse) or embeddings (dense); both have unit-length rows.
Vectors: TypeAlias = sparse.csr_matrix | np.ndarray

# Rows of the sentence-similarity matrix computed at once (bounds memory on huge inputs).
_BLOCK_ROWS = 1024

# Words for similarity: runs of letters/digits, and CJK/kana/hangul one character each
# (those scripts do not separate words with spaces).
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")


def tokens(text: str, stem_chars: int) -> list[str]:
    return [t[:stem_chars] for t in _TOKEN.findall(text.lower())]


def tfidf(texts: Sequence[str], stem_chars: int) -> tuple[sparse.csr_matrix, dict[str, int]]:
    """Row-normalized sublinear tf-idf, idf over this document's sentences."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    cols: list[int] = []
    for row, text in enumerate(texts):
        for token in tokens(text, stem_chars):
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


def directed_centrality(matrix: Vectors, beta: float, lambda_forward: float, lambda_backward: float) -> np.ndarray:
    """PacSum: lambda_forward * edges to later sentences + lambda_backward * edges to earlier ones.

    The cosine matrix is built in row blocks so that a book-length input needs
    O(block * n) memory, not O(n^2). Within a block only the square on the diagonal
    mixes earlier and later columns; the rest is summed whole.
    """
    n = matrix.shape[0]
    if n < 2:
        return np.zeros(n)
    low, high = np.inf, -np.inf
    for start, block in similarity_blocks(matrix):
        rows = np.arange(block.shape[0])
        block[rows, start + rows] = np.nan  # a sentence is not its own neighbour
        low, high = min(low, float(np.nanmin(block))), max(high, float(np.nanmax(block)))
    threshold = low + beta * (high - low)
    forward = np.zeros(n)
    backward = np.zeros(n)
    for start, block in similarity_blocks(matrix):
        stop = start + block.shape[0]
        edges = np.clip(block - threshold, 0.0, None, out=block)
        square = edges[:, start:stop]
        forward[start:stop] = edges[:, stop:].sum(axis=1) + np.triu(square, 1).sum(axis=1)
        backward[start:stop] = edges[:, :start].sum(axis=1) + np.tril(square, -1).sum(axis=1)
    return lambda_forward * forward + lambda_backward * backward


def similarity_blocks(matrix: Vectors) -> Iterator[tuple[int, np.ndarray]]:
    for start in range(0, matrix.shape[0], _BLOCK_ROWS):
        yield start, dense(matrix[start : start + _BLOCK_ROWS] @ matrix.T)


def dense(values: sparse.spmatrix | np.ndarray) -> np.ndarray:
    """A sparse or dense product as a float64 ndarray (float32 embeddings included)."""
    if isinstance(values, np.ndarray):
        return np.asarray(values, dtype=np.float64)
    return np.asarray(values.toarray())


def query_relevance(matrix: sparse.csr_matrix, vocabulary: dict[str, int], query: str, stem_chars: int) -> np.ndarray:
    columns = sorted({vocabulary[t] for t in tokens(query, stem_chars) if t in vocabulary})
    if not columns:
        return np.zeros(matrix.shape[0])
    return np.asarray(matrix[:, columns].sum(axis=1)).ravel()


def unit(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1]; a constant vector becomes all ones."""
    low, high = float(values.min()), float(values.max())
    if high - low < 1e-12:
        return np.ones_like(values, dtype=np.float64)
    return (values - low) / (high - low)
