"""What the engine's worker threads and the job worker report: metrics (when on) and spans.

``service.batching`` calls ``load``, ``dequeued`` and ``call`` on its model's thread;
``service.engine`` captures each caller's trace context (``capture``) and counts what
comes back (``documents``). A model call's span is a child of its first caller's span and
links to the others' (one call serves several requests); inside it, map-reduce's rounds and
chunk calls become spans through the library's plain hook (``models.observing``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context

from models.catalog import ModelRegistry
from models.observing import Attribute, observing
from models.runner import DocumentResult
from models.types import Summarizer, Summary
from service.observability.metrics import Metrics


class Telemetry:
    """Metrics into ``metrics`` (``None``: none kept), spans from ``tracer`` (OpenTelemetry's global one by
    default: a no-op unless something installed a tracer provider)."""

    def __init__(self, metrics: Metrics | None = None, tracer: trace.Tracer | None = None) -> None:
        self.metrics = metrics
        self.tracer = tracer or trace.get_tracer("docsum")
        self._stages = _SpanStages(self.tracer)

    def capture(self) -> Context:
        """The calling request's trace context, for the model call that will serve it on another thread."""
        return otel_context.get_current()

    def span(self, name: str, attributes: Mapping[str, Attribute]) -> AbstractContextManager[trace.Span]:
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def load(self, registry: ModelRegistry, model: str) -> Summarizer:
        """The model's summarizer, held until ``registry.release``; a load that happens here is timed, and traced."""
        if registry.is_loaded(model):
            return registry.acquire(model)
        started = time.perf_counter()
        with self.span("docsum.model_load", {"docsum.model": model}):
            summarizer = registry.acquire(model)
        if self.metrics is not None:
            self.metrics.load_duration.labels(model).observe(time.perf_counter() - started)
        return summarizer

    def dequeued(self, model: str, waited: Sequence[float]) -> None:
        """Documents leave the queue for their first model call after waiting these many seconds."""
        if self.metrics is not None:
            histogram = self.metrics.queue_time.labels(model)
            for seconds in waited:
                histogram.observe(seconds)

    def call(self, model: str, kind: str, parents: Sequence[Context], run: Callable[[], list[Any]]) -> list[Any]:
        """One model call on ``len(parents)`` documents (``parents``: each one's caller's trace context)."""
        size = len(parents)
        distinct = list({id(parent): parent for parent in parents}.values())
        links = [trace.Link(trace.get_current_span(parent).get_span_context()) for parent in distinct[1:]]
        attributes: dict[str, Attribute] = {"docsum.model": model, "docsum.batch_size": size}
        metrics = self.metrics
        with (
            self.tracer.start_as_current_span("docsum.model_call", distinct[0], links=links, attributes=attributes),
            observing(self._stages),
            self._running(model, size),
        ):
            started = time.perf_counter()
            try:
                results = run()
            finally:  # a call that failed took the model's time too
                elapsed = time.perf_counter() - started
                if metrics is not None:
                    metrics.batch_size.labels(model).observe(size)
                    metrics.batch_duration.labels(model).observe(elapsed)
        if metrics is not None:
            summaries = [result for result in results if isinstance(result, Summary)]
            longest = max((summary.output_tokens for summary in summaries), default=0)
            # Per decoding step, where the call's time is its decoding: not map-reduce, not a copied summary.
            if kind != "extractive" and longest and all(summary.chunks is None for summary in summaries):
                metrics.time_per_output_token.labels(model).observe(elapsed / longest)
        return results

    def first_token(self, model: str, seconds: float) -> None:
        if self.metrics is not None:
            self.metrics.time_to_first_token.labels(model).observe(seconds)

    def documents(self, model: str, outcomes: Sequence[Summary | DocumentResult | None]) -> None:
        """Count finished documents: summaries (and their tokens, chunks and rounds) and failures."""
        metrics = self.metrics
        if metrics is None:
            return
        failed = 0
        for outcome in outcomes:
            summary = outcome.summary if isinstance(outcome, DocumentResult) else outcome
            if summary is None:
                failed += 1
                continue
            metrics.prompt_tokens.labels(model).inc(summary.input_tokens)
            metrics.generation_tokens.labels(model).inc(summary.output_tokens)
            if summary.chunks is not None:
                metrics.chunks.labels(model).inc(len(summary.chunks))
                metrics.reduce_rounds.labels(model).inc(summary.reduce_rounds)
        if failed:
            metrics.documents.labels(model, "error").inc(failed)
        if len(outcomes) > failed:
            metrics.documents.labels(model, "ok").inc(len(outcomes) - failed)

    def failed(self, model: str, documents: int) -> None:
        """A request's documents failed together (the model refused or broke on the whole call)."""
        if self.metrics is not None:
            self.metrics.documents.labels(model, "error").inc(documents)

    @contextmanager
    def _running(self, model: str, size: int) -> Iterator[None]:
        if self.metrics is None:
            yield
            return
        gauge = self.metrics.batch_current_size.labels(model)
        gauge.inc(size)
        try:
            yield
        finally:
            gauge.dec(size)


class _SpanStages:
    """``models.observing``'s observer: each stage of map-reduce as a span (``docsum.map``, ``docsum.chunks``...)."""

    def __init__(self, tracer: trace.Tracer) -> None:
        self.tracer = tracer

    def stage(self, name: str, attributes: Mapping[str, Attribute]) -> AbstractContextManager[object]:
        named = {f"docsum.{key}": value for key, value in attributes.items()}
        return self.tracer.start_as_current_span(f"docsum.{name}", attributes=named)
