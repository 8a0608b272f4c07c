"""Every metric of one app, in a Prometheus registry of its own (never the process-wide default).

Names follow the Prometheus conventions (``docsum_`` prefix, ``_seconds``, ``_total``) and the
words TGI and vLLM use for the same things (queue size, batch size, time to first token, prompt
and generation tokens); README.md, "Metrics", lists them with what each counts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

# Seconds: from a cached extractive summary (milliseconds) to a long document on a CPU (minutes).
_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_TOKEN_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5)
_LOAD_SECONDS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)

# A job's statuses, as service.features.jobs.protocol.JobStatus (which this module may not import; tested equal).
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Metrics:
    """The app's metrics; ``render`` writes them in the Prometheus text format."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests(self.registry)
        self._model_calls(self.registry)
        self._documents(self.registry)

    def _requests(self, registry: CollectorRegistry) -> None:
        self.request_duration = Histogram(
            "docsum_request_duration_seconds",
            "HTTP requests: seconds from arrival to the last byte of the response (a stream's included).",
            ["method", "route", "status_code", "model"],
            registry=registry,
            buckets=_SECONDS,
        )
        self.requests_in_progress = Gauge(
            "docsum_requests_in_progress", "HTTP requests being answered now.", registry=registry
        )
        self.errors = Counter(
            "docsum_errors_total",
            "Error answers by HTTP status and error code (an error event inside a stream counts with status 200).",
            ["status_code", "code"],
            registry=registry,
        )

    def _model_calls(self, registry: CollectorRegistry) -> None:
        model = ["model"]
        self.queue_time = Histogram(
            "docsum_request_queue_time_seconds",
            "Seconds a document waited in its model's queue before its first model call.",
            model,
            registry=registry,
            buckets=_SECONDS,
        )
        self.time_to_first_token = Histogram(
            "docsum_time_to_first_token_seconds",
            "Streamed summaries: seconds from the request reaching the engine to the first generated text.",
            model,
            registry=registry,
            buckets=_SECONDS,
        )
        self.time_per_output_token = Histogram(
            "docsum_time_per_output_token_seconds",
            "Model calls without map-reduce: the call's seconds over its longest summary's output tokens.",
            model,
            registry=registry,
            buckets=_TOKEN_SECONDS,
        )
        self.batch_size = Histogram(
            "docsum_batch_size", "Documents per model call.", model, registry=registry, buckets=_BATCH_SIZES
        )
        self.batch_duration = Histogram(
            "docsum_batch_inference_duration_seconds",
            "Seconds per model call.",
            model,
            registry=registry,
            buckets=_SECONDS,
        )
        self.batch_current_size = Gauge(
            "docsum_batch_current_size", "Documents in the model calls running now.", model, registry=registry
        )
        self.load_duration = Histogram(
            "docsum_model_load_duration_seconds",
            "Seconds to load a model (successful loads).",
            model,
            registry=registry,
            buckets=_LOAD_SECONDS,
        )

    def _documents(self, registry: CollectorRegistry) -> None:
        model = ["model"]
        self.documents = Counter(
            "docsum_documents_total",
            "Documents summarized (outcome ok) or failed by the model (outcome error); rate() gives documents/s.",
            ["model", "outcome"],
            registry=registry,
        )
        self.prompt_tokens = Counter(
            "docsum_prompt_tokens_total", "Input tokens of the documents summarized.", model, registry=registry
        )
        self.generation_tokens = Counter(
            "docsum_generation_tokens_total", "Output tokens of the summaries returned.", model, registry=registry
        )
        self.chunks = Counter(
            "docsum_chunks_total",
            "Map chunks of documents summarized in chunks (map-reduce).",
            model,
            registry=registry,
        )
        self.reduce_rounds = Counter(
            "docsum_reduce_rounds_total",
            "Reduce passes of documents summarized in chunks, the final pass included.",
            model,
            registry=registry,
        )

    def watch(self, state: StateCollector) -> None:
        """Gauges read at each scrape: queue sizes, loaded models, jobs by status."""
        self.registry.register(state)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class StateCollector(Collector):
    """Gauges read when scraped, from callables the app gives (so this module knows no engine or store).

    ``jobs`` queries the job store; when it fails, the scrape goes on without ``docsum_jobs``.
    """

    def __init__(
        self,
        queued: Callable[[], Mapping[str, int]],
        loaded: Callable[[], Mapping[str, bool]],
        jobs: Callable[[], Mapping[str, int]] | None = None,
    ) -> None:
        self._queued = queued
        self._loaded = loaded
        self._jobs = jobs

    def describe(self) -> Iterable[Metric]:
        return self._families()

    def collect(self) -> Iterable[Metric]:
        queue, loaded = self._families()[:2]
        for model, size in self._queued().items():
            queue.add_metric([model], size)
        for model, is_loaded in self._loaded().items():
            loaded.add_metric([model], 1.0 if is_loaded else 0.0)
        yield queue
        yield loaded
        if self._jobs is not None:
            try:
                counts = self._jobs()
            except Exception:  # the database is away: the other metrics still tell what happens
                logger.warning("counting jobs for /metrics failed", exc_info=True)
                return
            jobs = self._families()[2]
            for status in JOB_STATUSES:
                jobs.add_metric([status], counts.get(status, 0))
            yield jobs

    def _families(self) -> list[GaugeMetricFamily]:
        families = [
            GaugeMetricFamily("docsum_queue_size", "Documents waiting in the model's queue.", labels=["model"]),
            GaugeMetricFamily("docsum_model_loaded", "1 for a model loaded in memory, else 0.", labels=["model"]),
        ]
        if self._jobs is not None:
            families.append(
                GaugeMetricFamily(
                    "docsum_jobs",
                    "Jobs in the job store by status (every replica sharing it sees the same).",
                    labels=["status"],
                )
            )
        return families
