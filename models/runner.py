"""Summarize many documents: length-sorted batches, per-document errors, input order.

This is the one code path behind ``docsum batch``, ``docsum eval``, the HTTP batch
endpoint and (later) the Ray worker, so they all batch and fail the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from models.errors import ModelError
from models.types import Summarizer, Summary, SummaryOptions

logger = logging.getLogger(__name__)

# How many batches are read ahead and sorted by length together. Larger windows
# pad less; smaller ones hold fewer results back before they can be written.
_WINDOW_BATCHES = 8
# Batches are planned before tokenizing: English BPE averages a little over four characters a token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class Document:
    id: str
    text: str


@dataclass(frozen=True, slots=True)
class DocumentError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class DocumentResult:
    """Exactly one of ``summary`` and ``error`` is set."""

    id: str
    summary: Summary | None = None
    error: DocumentError | None = None


def summarize_documents(
    summarizer: Summarizer,
    documents: Iterable[Document],
    options: SummaryOptions,
    *,
    batch_size: int = 8,
    max_chars: int | None = None,
    batch_tokens: int | None = None,
) -> Iterator[DocumentResult]:
    """Yield one result per document, in input order, as soon as its window is done.

    Options are checked once up front (an unsupported option fails the call, not
    every document). A document that is empty or over ``max_chars`` gets an error
    result; a batch that fails is retried one document at a time so that one bad
    document cannot fail its neighbours.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    summarizer.check_options(options)
    cost = beams_of(summarizer, options)  # rows per document in a model call
    iterator = iter(documents)
    while window := list(islice(iterator, batch_size * _WINDOW_BATCHES)):
        yield from _summarize_window(summarizer, window, options, batch_size, max_chars, batch_tokens, cost)


def _summarize_window(
    summarizer: Summarizer,
    window: Sequence[Document],
    options: SummaryOptions,
    batch_size: int,
    max_chars: int | None,
    batch_tokens: int | None = None,
    cost: int = 1,
) -> Iterator[DocumentResult]:
    results: dict[int, DocumentResult] = {}
    runnable: list[int] = []
    for index, document in enumerate(window):
        error = precheck(document, max_chars)
        if error is None:
            runnable.append(index)
        else:
            results[index] = DocumentResult(document.id, error=error)
    # Longest first: similar lengths share a batch (little padding), and the
    # slowest batch runs while memory is freshest.
    runnable.sort(key=lambda i: len(window[i].text), reverse=True)
    start = 0
    while start < len(runnable):
        size = batch_size
        if batch_tokens is not None:  # padded tokens x beams within the budget; the longest comes first
            longest = count_tokens(summarizer, [window[runnable[start]].text])[0]
            size = max(1, min(batch_size, batch_tokens // (longest * cost)))
        batch = runnable[start : start + size]
        start += size
        for index, result in zip(batch, _summarize_batch(summarizer, [window[i] for i in batch], options), strict=True):
            results[index] = result
    for index in range(len(window)):
        yield results[index]


def estimate_tokens(text: str, window: int | None) -> int:
    """Input tokens of a text as the model will take it, estimated from its length."""
    estimate = len(text) // CHARS_PER_TOKEN + 2
    return min(estimate, window) if window else estimate


def count_tokens(summarizer: Summarizer, texts: Sequence[str]) -> list[int]:
    """Input tokens per text as the model takes them (capped at its window): counted by the
    summarizer's tokenizer where it has one (``count_input_tokens``), else estimated.
    Call it on the thread that owns the summarizer."""
    window = summarizer.max_input_tokens
    counter = getattr(summarizer, "count_input_tokens", None)
    if callable(counter):
        try:
            counts = [int(n) for n in counter(texts)]
        except Exception:
            counts = [estimate_tokens(text, None) for text in texts]
    else:
        counts = [estimate_tokens(text, None) for text in texts]
    return [min(n, window) if window else n for n in counts]


def beams_of(summarizer: Summarizer, options: SummaryOptions) -> int:
    """Rows per document in a model call: the beam width these options give (1 if unknown)."""
    if options.num_beams is not None:
        return options.num_beams
    generation_kwargs = getattr(summarizer, "generation_kwargs", None)
    model = getattr(summarizer, "model", None)
    try:
        default = getattr(getattr(model, "generation_config", None), "num_beams", 1) or 1
        beams = generation_kwargs(options).get("num_beams", default) if callable(generation_kwargs) else default
    except Exception:
        return 1
    return int(beams) if isinstance(beams, int) and beams > 0 else 1


def _summarize_batch(
    summarizer: Summarizer, batch: Sequence[Document], options: SummaryOptions
) -> list[DocumentResult]:
    try:
        summaries = summarizer.summarize([d.text for d in batch], options)
    except Exception as exc:
        if len(batch) == 1:
            return [failed_result(batch[0], exc)]
        logger.warning("a batch of %d failed; retrying its documents one by one", len(batch), exc_info=True)
        return [result for document in batch for result in _summarize_batch(summarizer, [document], options)]
    return [DocumentResult(d.id, summary=s) for d, s in zip(batch, summaries, strict=True)]


def failed_result(document: Document, exc: Exception) -> DocumentResult:
    if isinstance(exc, ModelError):
        return DocumentResult(document.id, error=DocumentError(error_code(exc), exc.message))
    logger.error("summarizing document %r failed", document.id, exc_info=exc)
    return DocumentResult(document.id, error=DocumentError("summarization_failed", "the model failed on this document"))


def precheck(document: Document, max_chars: int | None) -> DocumentError | None:
    if not document.text.strip():
        return DocumentError("empty_document", "the document has no text")
    if max_chars is not None and len(document.text) > max_chars:
        return DocumentError(
            "document_too_large", f"the document has {len(document.text)} characters; the limit is {max_chars}"
        )
    return None


def error_code(exc: ModelError) -> str:
    """snake_case of the exception class: ``InvalidInput`` -> ``invalid_input``."""
    name = type(exc).__name__
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")
