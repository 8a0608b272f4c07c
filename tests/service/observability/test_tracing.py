"""Spans of a chunked request, recorded with the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from models.catalog import ModelRegistry
from service.app import create_app
from service.observability.tracing import build_tracing
from service.settings import Settings
from tests.fakes import WindowedFake, sentences

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def traced(settings: Settings, registry: ModelRegistry, exporter: InMemorySpanExporter) -> Iterator[TestClient]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry.add(WindowedFake())
    app = create_app(settings, registry, tracer=provider.get_tracer("test"))
    with TestClient(app) as client:
        yield client
    provider.shutdown()


def test_a_chunked_request_has_a_span_per_request_model_call_round_and_chunk_call(
    traced: TestClient, exporter: InMemorySpanExporter
) -> None:
    response = traced.post(
        "/v1/summarize",
        json={"text": sentences(40), "model": "windowed"},
        headers={"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01", "Authorization": "Bearer secret-key"},
    )
    assert response.status_code == 200
    spans = exporter.get_finished_spans()
    assert {format(span.context.trace_id, "032x") for span in spans} == {TRACE_ID}  # the caller's trace goes on
    [request] = [span for span in spans if span.name == "POST /v1/summarize"]
    assert request.kind == trace.SpanKind.SERVER
    assert request.parent is not None and format(request.parent.span_id, "016x") == "00f067aa0ba902b7"
    attributes = dict(request.attributes or {})
    assert attributes["http.route"] == "/v1/summarize"
    assert attributes["http.response.status_code"] == 200
    assert attributes["docsum.model"] == "windowed"
    assert attributes["docsum.request_id"] == response.headers["x-request-id"]
    assert not any("secret-key" in str(v) for span in spans for v in (span.attributes or {}).values())

    [call] = children(spans, request)
    assert call.name == "docsum.model_call"
    assert dict(call.attributes or {}) == {"docsum.model": "windowed", "docsum.batch_size": 1}
    stages = children(spans, call)
    assert [(s.name, dict(s.attributes or {})) for s in stages] == [
        ("docsum.map", {"docsum.round": 0, "docsum.documents": 1, "docsum.chunks": 10}),
        ("docsum.reduce", {"docsum.round": 1, "docsum.documents": 1, "docsum.chunks": 2}),
        ("docsum.reduce", {"docsum.final": True, "docsum.documents": 1}),
    ]
    assert [dict(s.attributes or {}) for s in children(spans, stages[0])] == [{"docsum.chunks": 2}] * 5
    assert [s.name for s in children(spans, stages[1])] == ["docsum.chunks"]
    assert children(spans, stages[2]) == []


def test_requests_sharing_a_model_call_are_linked_to_it(traced: TestClient, exporter: InMemorySpanExporter) -> None:
    documents = [{"id": str(i), "text": f"document number {i}"} for i in range(3)]
    assert traced.post("/v1/summarize/batch", json={"documents": documents}).status_code == 200
    [request] = [span for span in exporter.get_finished_spans() if span.name == "POST /v1/summarize/batch"]
    [call] = children(exporter.get_finished_spans(), request)
    assert dict(call.attributes or {})["docsum.batch_size"] == 3
    assert call.links == ()  # one caller: its own span is the parent, nothing to link


def test_a_job_claim_is_a_span_with_the_model_call_inside(traced: TestClient, exporter: InMemorySpanExporter) -> None:
    from tests.service.features.jobs.test_router import wait_for

    job = traced.post("/v1/jobs", json={"documents": [{"id": "a", "text": "one two three"}]}).json()
    assert wait_for(traced, job["id"])["status"] == "succeeded"
    spans = exporter.get_finished_spans()
    [claim] = [span for span in spans if span.name == "docsum.job_claim"]
    assert dict(claim.attributes or {}) == {"docsum.job_id": job["id"], "docsum.documents": 1}
    assert [span.name for span in children(spans, claim)] == ["docsum.model_call"]


def test_without_an_endpoint_spans_go_to_the_global_tracer() -> None:
    tracing = build_tracing(None, "test")
    with tracing.tracer.start_as_current_span("x") as span:
        assert not span.is_recording()  # no global provider in the tests: a no-op
    tracing.shutdown()


def test_an_endpoint_gets_the_spans_over_otlp_http() -> None:
    received: list[tuple[str, str, bytes]] = []

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            received.append((self.path, self.headers["content-type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        tracing = build_tracing(f"http://127.0.0.1:{server.server_port}/", "test")
        with tracing.tracer.start_as_current_span("docsum.model_call", attributes={"docsum.batch_size": 3}):
            pass
        tracing.shutdown()  # flushes the batch
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    [(path, content_type, body)] = received
    assert (path, content_type) == ("/v1/traces", "application/x-protobuf")
    assert b"docsum.model_call" in body and b"docsum.batch_size" in body


def test_an_endpoint_without_the_sdk_warns_and_traces_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if the otel extra were absent
    with caplog.at_level(logging.WARNING):
        tracing = build_tracing("http://127.0.0.1:9", "test")
    assert "pip install 'docsum[otel]'" in caplog.text
    with tracing.tracer.start_as_current_span("x") as span:
        assert not span.is_recording()


def children(spans: tuple[ReadableSpan, ...], parent: ReadableSpan) -> list[ReadableSpan]:
    """The spans whose parent is ``parent``, in the order they started."""
    found = [s for s in spans if s.parent is not None and s.parent.span_id == parent.context.span_id]
    return sorted(found, key=lambda s: s.start_time or 0)
