"""Map-reduce summaries of documents longer than a seq2seq model's window.

Map: cut each document into sentence-aligned chunks that fit (``models.chunking``)
and summarize every chunk of every document in a few batched calls. Reduce: join
each document's partial summaries; while they still overflow the window, chunk
and summarize them again; then summarize them once more at the requested length.
The map step's chunks, with their exact character ranges, are the provenance.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from models.chunking import Chunk, plan_chunks
from models.errors import InputTooLong, TooManyChunks
from models.observing import stage
from models.types import ChunkSummary, EventSink, ProgressEvent, Summary, SummaryEvent, SummaryOptions
from models.yielding import step_done

# Reduce rounds after which the remaining text is cut at the head instead: a guard
# against a model whose summaries do not shrink, never reached by a working one.
MAX_REDUCE_ROUNDS = 8
# Partial summaries get at most this share of the window, so every round shrinks.
_PARTIAL_SHARE = 8
_MIN_PARTIAL_TOKENS = 8


class WindowedModel(Protocol):
    """What map-reduce needs of a model with a fixed input window: the pipeline wraps it, never knows it."""

    max_chunks: int | None  # map chunks one document may take; None lifts the limit
    chunk_overlap_tokens: int
    map_batch_tokens: int  # padded input tokens per map call
    default_max_new_tokens: int

    @property
    def max_input_tokens(self) -> int: ...

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]: ...

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]:
        """Plain summaries of texts that fit the window."""
        ...

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]:
        """Full summaries of texts that fit the window."""
        ...


class PromptModel(Protocol):
    """A chat model whose prompt, and so its room for the document, depends on the request's options
    (``models.instruct``, ``models.remote``)."""

    max_chunks: int | None
    chunk_overlap_tokens: int
    default_max_new_tokens: int

    def window(self, options: SummaryOptions) -> int: ...

    def count_prompts(self, texts: Sequence[str], options: SummaryOptions) -> list[int]: ...

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]: ...

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]: ...


class OptionsWindow:
    """A ``PromptModel`` as map-reduce sees it under one request's options: windows and counts are those
    of the longest prompt any step will build (the request's, or the partial summaries')."""

    def __init__(self, model: PromptModel, options: SummaryOptions, *, map_batch_tokens: int) -> None:
        self.model = model
        self.options = options
        self.max_chunks = model.max_chunks
        self.chunk_overlap_tokens = model.chunk_overlap_tokens
        self.default_max_new_tokens = model.default_max_new_tokens
        self.map_batch_tokens = map_batch_tokens
        self.max_input_tokens = model.window(options)

    def count_input_tokens(self, texts: Sequence[str]) -> list[int]:
        asked = self.model.count_prompts(texts, self.options)
        partial = self.model.count_prompts(texts, partial_options(self, self.options))
        return [max(a, b) for a, b in zip(asked, partial, strict=True)]

    def generate_texts(self, texts: Sequence[str], options: SummaryOptions) -> list[str]:
        return self.model.generate_texts(texts, options)

    def summarize_fitting(
        self, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
    ) -> list[Summary]:
        return self.model.summarize_fitting(texts, options, on_event)


def summarize_by_length(
    model: WindowedModel, texts: Sequence[str], options: SummaryOptions, on_event: EventSink | None = None
) -> list[Summary]:
    """Summaries in input order, whatever their length. Inputs over the window follow ``options.truncation``:
    map-reduce (``chunk``), cut at the head (``head``, by ``model.summarize_fitting``), or ``InputTooLong``
    (``error``). Every long document is planned before any model call: one over the chunk limit fails the
    call (``TooManyChunks``) before any work is done."""
    lengths = model.count_input_tokens(texts)
    window = model.max_input_tokens
    too_long = [n > window for n in lengths]
    if options.truncation == "error" and any(too_long):
        raise InputTooLong(max(lengths), window)
    chunked = [options.truncation == "chunk" and over for over in too_long]
    fitting = [i for i, chunk in enumerate(chunked) if not chunk]
    long = [i for i, chunk in enumerate(chunked) if chunk]
    plans = plan_documents(model, [texts[i] for i in long])
    results: dict[int, Summary] = {}
    if fitting:
        summaries = model.summarize_fitting([texts[i] for i in fitting], options, reindexed(on_event, fitting))
        results.update(zip(fitting, summaries, strict=True))
    if long:
        summaries = summarize_in_chunks(model, [texts[i] for i in long], options, reindexed(on_event, long), plans)
        results.update(zip(long, summaries, strict=True))
    return [results[i] for i in range(len(texts))]


def summarize_in_chunks(
    model: WindowedModel,
    texts: Sequence[str],
    options: SummaryOptions,
    on_event: EventSink | None = None,
    plans: Sequence[list[Chunk]] | None = None,
) -> list[Summary]:
    """Summaries of documents that overflow the window, with chunk provenance (``plans``: their map chunks)."""
    shrinking = partial_options(model, options)
    plans = plan_documents(model, texts) if plans is None else plans
    partials = _map(model, plans, shrinking, on_event, round_number=0)
    provenance = [
        tuple(ChunkSummary(c.offset, c.length, s) for c, s in zip(plan, summaries, strict=True))
        for plan, summaries in zip(plans, partials, strict=True)
    ]
    reduced, rounds = _reduce(model, [_join(summaries) for summaries in partials], shrinking, on_event)
    with stage("reduce", final=True, documents=len(reduced)):
        finals = model.summarize_fitting(reduced, options, on_event)
    return [
        dataclasses.replace(final, input_tokens=input_tokens, chunks=chunks, reduce_rounds=round_count + 1)
        for final, input_tokens, chunks, round_count in zip(
            finals, model.count_input_tokens(texts), provenance, rounds, strict=True
        )
    ]


def plan_documents(model: WindowedModel, texts: Sequence[str]) -> list[list[Chunk]]:
    """Each document's map chunks; :class:`TooManyChunks` past ``model.max_chunks``, before any model call."""
    plans = []
    for text in texts:
        plan = _plan(model, text)
        if model.max_chunks is not None and len(plan) > model.max_chunks:
            raise TooManyChunks(len(plan), model.max_chunks)
        plans.append(plan)
    return plans


def _reduce(
    model: WindowedModel, texts: list[str], options: SummaryOptions, on_event: EventSink | None
) -> tuple[list[str], list[int]]:
    """Shrink each text until it fits the window; how many intermediate rounds each took."""
    rounds = [0] * len(texts)
    for round_number in range(1, MAX_REDUCE_ROUNDS + 1):
        lengths = model.count_input_tokens(texts)
        pending = [i for i, n in enumerate(lengths) if n > model.max_input_tokens]
        if not pending:
            break
        plans = [_plan(model, texts[i]) for i in pending]
        sink = reindexed(on_event, pending)
        for i, summaries in zip(pending, _map(model, plans, options, sink, round_number), strict=True):
            joined = _join(summaries)
            # A round that does not shrink the text would never end: stop; the final pass cuts the head.
            texts[i] = joined if model.count_input_tokens([joined])[0] < lengths[i] else texts[i]
            rounds[i] = round_number
    return texts, rounds


def _map(
    model: WindowedModel,
    plans: Sequence[list[Chunk]],
    options: SummaryOptions,
    on_event: EventSink | None,
    round_number: int,
) -> list[list[str]]:
    """Summarize every chunk of every plan, batched by the model's chunk budget."""
    flat = [(doc, chunk) for doc, plan in enumerate(plans) for chunk in plan]
    most = max(1, model.map_batch_tokens // model.max_input_tokens)
    # As few calls as the budget allows, of even sizes: 19 chunks as 10 + 9, not 16 + 3 (a call
    # is cut in parts, one per CPU thread, and waits for its largest part).
    per_call = -(-len(flat) // -(-len(flat) // most)) if flat else most
    summaries: list[str] = []
    done = [0] * len(plans)
    name = "map" if round_number == 0 else "reduce"
    with stage(name, round=round_number, documents=len(plans), chunks=len(flat)):
        for start in range(0, len(flat), per_call):
            step_done()  # a pause point between calls too (CTranslate2's calls have none inside)
            batch = flat[start : start + per_call]
            with stage("chunks", chunks=len(batch)):
                summaries.extend(model.generate_texts([chunk.text for _, chunk in batch], options))
            for doc, _ in batch:
                done[doc] += 1
                if on_event is not None:
                    on_event(ProgressEvent(doc, done[doc], len(plans[doc]), round_number))
    results: list[list[str]] = [[] for _ in plans]
    for (doc, _), summary in zip(flat, summaries, strict=True):
        results[doc].append(summary)
    return results


def _plan(model: WindowedModel, text: str) -> list[Chunk]:
    overhead = model.count_input_tokens([""])[0]

    def count(texts: Sequence[str]) -> list[int]:
        # Exact: the chunk as the model takes it, prefix and special tokens aside.
        return [n - overhead for n in model.count_input_tokens(texts)]

    return plan_chunks(text, model.max_input_tokens - overhead, count, overlap=model.chunk_overlap_tokens)


def partial_options(model: WindowedModel, options: SummaryOptions) -> SummaryOptions:
    """Search settings as requested; lengths capped so that partial summaries shrink the text."""
    cap = max(_MIN_PARTIAL_TOKENS, model.max_input_tokens // _PARTIAL_SHARE)
    return SummaryOptions(
        max_tokens=min(cap, model.default_max_new_tokens),
        num_beams=options.num_beams,
        length_penalty=options.length_penalty,
        no_repeat_ngram_size=options.no_repeat_ngram_size,
        truncation="head",
    )


def _join(summaries: Sequence[str]) -> str:
    return "\n".join(s for s in summaries if s)


def reindexed(on_event: EventSink | None, indices: Sequence[int]) -> EventSink | None:
    """Events about the i-th of a subset of documents, told as events about ``indices[i]``."""
    if on_event is None:
        return None

    def emit(event: SummaryEvent) -> None:
        on_event(dataclasses.replace(event, index=indices[event.index]))

    return emit
