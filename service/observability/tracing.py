"""The app's tracer: spans exported over OTLP when ``DOCSUM_OTLP_ENDPOINT`` is set, else the global one.

Exporting needs the ``otel`` extra (``pip install 'docsum[otel]'``: the OpenTelemetry SDK and
its OTLP/HTTP exporter); without it, a configured endpoint is refused with a warning and spans
cost next to nothing. Without an endpoint, spans go to OpenTelemetry's global tracer provider:
a no-op unless the process installed one (``opentelemetry-instrument``, a test's SDK provider).
The SDK's own ``OTEL_*`` variables (headers, timeouts, ``OTEL_SERVICE_NAME``, ...) apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from opentelemetry import trace

logger = logging.getLogger(__name__)

_NO_SDK = "DOCSUM_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed: pip install 'docsum[otel]'"


@dataclass(frozen=True, slots=True)
class Tracing:
    tracer: trace.Tracer
    shutdown: Callable[[], None]  # flushes the spans still buffered; the app calls it when it stops


def build_tracing(endpoint: str | None, version: str) -> Tracing:
    """Spans exported to ``endpoint`` (the collector's base URL: http://collector:4318), or the global tracer."""
    if not endpoint:
        return Tracing(trace.get_tracer("docsum", version), lambda: None)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(_NO_SDK)
        return Tracing(trace.get_tracer("docsum", version), lambda: None)
    resource = Resource.create({"service.version": version})  # OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "docsum"}))
    provider = TracerProvider(resource=resource)
    exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")
    provider.add_span_processor(BatchSpanProcessor(exporter))
    # The host alone: a URL may carry credentials, and secrets are never logged.
    logger.info("exporting traces over OTLP/HTTP to %s", urlsplit(endpoint).hostname)
    return Tracing(provider.get_tracer("docsum", version), provider.shutdown)
