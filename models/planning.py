"""How documents become model calls: the one batch planner.

Both ways docsum runs many documents plan their calls here: ``models.runner`` (the
CLI, eval, the Ray worker) and the server's per-model scheduler
(``service.batching``). A call holds at most ``CallBudget.documents`` documents and
``CallBudget.tokens`` padded input tokens x rows (documents x longest x beams: what
the decoder carries), so beam search holds no more keys and values than greedy
search does. Similar lengths share a call (little padding), and a call that fails is
retried one document at a time so that one bad document cannot fail its neighbours.

The planner knows token counts and rows per document (``Summarizer.count_input_tokens``
and ``Summarizer.rows_per_document``), never the model.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from models.types import Summarizer
from models.yielding import Cancelled

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Before a tokenizer is at hand, English BPE averages a little over four characters a token.
CHARS_PER_TOKEN = 4


@dataclass(frozen=True, slots=True)
class CallBudget:
    """The most one model call may hold: documents, and padded input tokens x rows (``None``: no token cap)."""

    documents: int
    tokens: int | None = None

    def __post_init__(self) -> None:
        if self.documents < 1:
            raise ValueError("a call must be allowed at least one document")
        if self.tokens is not None and self.tokens < 1:
            raise ValueError("a call's token budget must be at least 1")

    def fits(self, documents: int, longest: int, rows: int) -> bool:
        """Whether ``documents`` documents, the longest of ``longest`` tokens, ``rows`` rows each, fit one call.
        One document always fits: a document longer than the budget still has to run, alone."""
        if documents > self.documents:
            return False
        return documents == 1 or self.tokens is None or longest * rows * documents <= self.tokens


def estimate_tokens(text: str, window: int | None = None) -> int:
    """Input tokens of a text, estimated from its length (capped at ``window``)."""
    estimate = len(text) // CHARS_PER_TOKEN + 2
    return min(estimate, window) if window else estimate


def input_tokens(summarizer: Summarizer, texts: Sequence[str]) -> list[int]:
    """Input tokens per text as the model takes them, capped at its window. Call it on the
    thread that owns the summarizer (tokenizers are not shared across threads)."""
    window = summarizer.max_input_tokens
    counts = summarizer.count_input_tokens(texts)
    return [min(n, window) if window else n for n in counts]


def plan_calls(items: Sequence[T], tokens: Callable[[T], int], rows: int, budget: CallBudget) -> list[list[T]]:
    """All of ``items`` in calls within ``budget``, longest first: similar lengths side by side,
    and the slowest call runs while memory is freshest."""
    ordered = sorted(items, key=tokens, reverse=True)
    calls: list[list[T]] = []
    for item in ordered:
        # Longest first, so a call's first item is its longest.
        if calls and budget.fits(len(calls[-1]) + 1, tokens(calls[-1][0]), rows):
            calls[-1].append(item)
        else:
            calls.append([item])
    return calls


def fill_call(head: T, candidates: Sequence[T], tokens: Callable[[T], int], rows: int, budget: CallBudget) -> list[T]:
    """``head`` and the candidates closest to it in length, in the order given for ties, within ``budget``."""
    size = tokens(head)
    ranked = sorted(enumerate(candidates), key=lambda pair: (abs(tokens(pair[1]) - size), pair[0]))
    call, longest = [head], size
    for _, item in ranked:
        if len(call) >= budget.documents:
            break
        longest_with = max(longest, tokens(item))
        if budget.fits(len(call) + 1, longest_with, rows):
            call.append(item)
            longest = longest_with
    return call


def run_or_split(
    run: Callable[[Sequence[T]], Sequence[R]], call: Sequence[T], fail: Callable[[T, Exception], R]
) -> list[R]:
    """``run(call)``; if it raises, each item again alone, and ``fail(item, error)`` for one that fails alone.
    A call stopped because its callers left (``Cancelled``) is not a failure: it propagates."""
    try:
        results = list(run(call))
    except Cancelled:
        raise
    except Exception as exc:
        if len(call) == 1:
            return [fail(call[0], exc)]
        logger.warning("a call of %d documents failed; retrying them one by one", len(call), exc_info=True)
        return [result for item in call for result in run_or_split(run, [item], fail)]
    return results
