"""Summarize many documents in one process: per-document errors, results in input order.

``docsum batch``, ``docsum eval`` and the Ray worker run documents through here; the
server runs its own scheduler (``service.batching``), and both plan their model calls
with ``models.planning``, so they batch, budget and retry the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from models.errors import ModelError
from models.planning import CallBudget, input_tokens, plan_calls, run_or_split
from models.types import Summarizer, Summary, SummaryOptions

logger = logging.getLogger(__name__)

# How many batches are read ahead and sorted by length together. Larger windows
# pad less; smaller ones hold fewer results back before they can be written.
_WINDOW_BATCHES = 8


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
    result. Calls are planned by ``models.planning``, as the server plans its own:
    at most ``batch_size`` documents and ``batch_tokens`` padded tokens x beams, and a
    call that fails is retried one document at a time.
    """
    budget = CallBudget(batch_size, batch_tokens)
    summarizer.check_options(options)
    rows = summarizer.rows_per_document(options)
    iterator = iter(documents)
    while window := list(islice(iterator, batch_size * _WINDOW_BATCHES)):
        yield from _summarize_window(summarizer, window, options, budget, max_chars, rows)


def _summarize_window(
    summarizer: Summarizer,
    window: Sequence[Document],
    options: SummaryOptions,
    budget: CallBudget,
    max_chars: int | None,
    rows: int,
) -> Iterator[DocumentResult]:
    results: dict[int, DocumentResult] = {}
    runnable: list[int] = []
    for index, document in enumerate(window):
        error = precheck(document, max_chars)
        if error is None:
            runnable.append(index)
        else:
            results[index] = DocumentResult(document.id, error=error)
    counted = input_tokens(summarizer, [window[i].text for i in runnable])
    tokens = dict(zip(runnable, counted, strict=True))

    def run(call: Sequence[int]) -> list[DocumentResult]:
        summaries = summarizer.summarize([window[i].text for i in call], options)
        return [DocumentResult(window[i].id, summary=s) for i, s in zip(call, summaries, strict=True)]

    for call in plan_calls(runnable, tokens.__getitem__, rows, budget):
        done = run_or_split(run, call, lambda i, exc: failed_result(window[i], exc))
        results.update(zip(call, done, strict=True))
    for index in range(len(window)):
        yield results[index]


def failed_result(document: Document, exc: Exception) -> DocumentResult:
    if isinstance(exc, ModelError):
        return DocumentResult(document.id, error=DocumentError(exc.code, exc.message))
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
