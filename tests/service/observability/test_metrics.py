"""GET /metrics after a known sequence of requests, parsed as Prometheus parses it: every count exact."""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from models.catalog import BUILTIN_MODELS, ModelRegistry, ModelSpec, default_loader, probe_source
from models.loading import LoadSettings
from service.app import create_app
from service.features.jobs.protocol import JobStatus
from service.observability.metrics import JOB_STATUSES
from service.settings import Settings
from tests.fakes import FAIL_MARKER, FakeSummarizer, WindowedFake, sentences
from tests.service.features.jobs.test_router import wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]

TEXTS = ["one two three four five six seven", "alpha beta gamma", "a b c d e f g h i j"]


def scrape(client: TestClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def series(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (sample, labels), v in samples.items() if sample == name}


@pytest.fixture
def windowed() -> WindowedFake:
    return WindowedFake()


@pytest.fixture
def served(settings: Settings, registry: ModelRegistry, windowed: WindowedFake) -> Iterator[TestClient]:
    registry.add(windowed)
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client


def test_a_known_sequence_of_requests_is_counted_exactly(served: TestClient, fake: FakeSummarizer) -> None:
    for text in TEXTS:
        assert served.post("/v1/summarize", json={"text": text}).status_code == 200
    assert served.post("/v1/summarize", json={"text": "   "}).status_code == 422  # empty_document
    assert served.post("/v1/summarize", json={"text": "x", "model": "no-such-model"}).status_code == 404
    job = served.post("/v1/jobs", json={"documents": [{"id": "a", "text": TEXTS[0]}, {"id": "b", "text": TEXTS[1]}]})
    assert job.status_code == 202
    assert wait_for(served, job.json()["id"])["status"] == "succeeded"
    batch = [{"id": "ok", "text": TEXTS[2]}, {"id": "bad", "text": f"{FAIL_MARKER} here"}]
    assert served.post("/v1/summarize/batch", json={"documents": batch}).status_code == 200
    assert served.post("/v1/summarize", json={"text": sentences(40), "model": "windowed"}).status_code == 200
    metrics = scrape(served)

    duration = "docsum_request_duration_seconds_count"
    post = {"method": "POST", "route": "/v1/summarize"}
    assert value(metrics, duration, **post, status_code="200", model="fake") == 3
    assert value(metrics, duration, **post, status_code="200", model="windowed") == 1
    assert value(metrics, duration, **post, status_code="422", model="") == 1  # refused before a model was chosen
    assert value(metrics, duration, **post, status_code="404", model="") == 1  # a made-up name is no label
    assert value(metrics, duration, method="POST", route="/v1/jobs", status_code="202", model="fake") == 1
    polls = value(metrics, duration, method="GET", route="/v1/jobs/{job_id}", status_code="200", model="")
    assert polls is not None and polls >= 1
    assert value(metrics, duration, method="POST", route="/v1/summarize/batch", status_code="200", model="fake") == 1
    assert series(metrics, "docsum_errors_total") == {
        frozenset({("status_code", "422"), ("code", "empty_document")}): 1,
        frozenset({("status_code", "404"), ("code", "model_not_found")}): 1,
    }

    # 3 summaries, 2 job documents and 1 of the batch; the batch's other document failed in the model.
    assert value(metrics, "docsum_documents_total", model="fake", outcome="ok") == 6
    assert value(metrics, "docsum_documents_total", model="fake", outcome="error") == 1
    assert value(metrics, "docsum_documents_total", model="windowed", outcome="ok") == 1
    words = [len(text.split()) for text in [*TEXTS, TEXTS[0], TEXTS[1], TEXTS[2]]]
    assert value(metrics, "docsum_prompt_tokens_total", model="fake") == sum(words)
    assert value(metrics, "docsum_generation_tokens_total", model="fake") == sum(min(5, n) for n in words)
    assert value(metrics, "docsum_prompt_tokens_total", model="windowed") == 200
    assert value(metrics, "docsum_chunks_total", model="windowed") == 10
    assert value(metrics, "docsum_reduce_rounds_total", model="windowed") == 2
    assert value(metrics, "docsum_chunks_total", model="fake") is None  # nothing was chunked

    # Every model call, the failed batch call and its retries one by one included.
    assert value(metrics, "docsum_batch_size_count", model="fake") == len(fake.calls)
    assert value(metrics, "docsum_batch_size_sum", model="fake") == sum(len(call) for call in fake.calls)
    assert value(metrics, "docsum_batch_inference_duration_seconds_count", model="fake") == len(fake.calls)
    assert value(metrics, "docsum_batch_size_count", model="windowed") == 1  # map-reduce is one call of the engine
    assert value(metrics, "docsum_request_queue_time_seconds_count", model="fake") == 3 + 2 + 2
    # Calls that returned summaries, not chunked: the failed batch call has none.
    assert value(metrics, "docsum_time_per_output_token_seconds_count", model="fake") == len(fake.calls) - 2
    assert value(metrics, "docsum_time_per_output_token_seconds_count", model="windowed") is None

    assert value(metrics, "docsum_batch_current_size", model="fake") == 0
    assert value(metrics, "docsum_queue_size", model="fake") == 0
    assert value(metrics, "docsum_requests_in_progress") == 1  # the scrape itself
    assert value(metrics, "docsum_model_loaded", model="fake") == 1
    assert value(metrics, "docsum_model_loaded", model="bart-large-cnn") == 0
    jobs = series(metrics, "docsum_jobs")
    assert jobs == {frozenset({("status", status)}): 1 if status == "succeeded" else 0 for status in JOB_STATUSES}


def test_every_job_status_has_its_series() -> None:
    assert get_args(JobStatus) == JOB_STATUSES


def test_a_streamed_summary_times_its_first_token(client: TestClient) -> None:
    with client.stream("POST", "/v1/summarize", json={"text": TEXTS[0], "stream": True}) as response:
        assert response.status_code == 200
        assert "event: summary" in response.read().decode()
    metrics = scrape(client)
    assert value(metrics, "docsum_time_to_first_token_seconds_count", model="fake") == 1
    assert value(metrics, "docsum_request_duration_seconds_count", method="POST", route="/v1/summarize",
                 status_code="200", model="fake") == 1  # fmt: skip


def test_an_error_inside_a_stream_is_counted_with_status_200(client: TestClient) -> None:
    with client.stream("POST", "/v1/summarize", json={"text": f"{FAIL_MARKER} now", "stream": True}) as response:
        assert response.status_code == 200
        assert "event: error" in response.read().decode()
    metrics = scrape(client)
    assert series(metrics, "docsum_errors_total") == {
        frozenset({("status_code", "200"), ("code", "internal_error")}): 1
    }
    assert value(metrics, "docsum_documents_total", model="fake", outcome="error") == 1


def test_a_model_loaded_on_first_use_is_timed_once(settings: Settings) -> None:
    registry = ModelRegistry(
        {**BUILTIN_MODELS, "lazy": ModelSpec("lazy", "nowhere", "seq2seq")},
        lambda spec: FakeSummarizer(spec.name) if spec.name == "lazy" else default_loader(LoadSettings())(spec),
        lambda spec: None if spec.name == "lazy" else probe_source(spec),
    )
    registry.add(FakeSummarizer())
    with TestClient(create_app(settings, registry)) as client:
        assert value(scrape(client), "docsum_model_loaded", model="lazy") == 0
        for _ in range(2):
            assert client.post("/v1/summarize", json={"text": "a b c", "model": "lazy"}).status_code == 200
        metrics = scrape(client)
    assert value(metrics, "docsum_model_load_duration_seconds_count", model="lazy") == 1
    assert value(metrics, "docsum_model_loaded", model="lazy") == 1


def test_odd_methods_and_unknown_paths_add_no_series_of_their_own(client: TestClient) -> None:
    client.request("BREW", "/v1/summarize")
    client.get("/v1/no/such/path/1")
    client.get("/v1/no/such/path/2")
    metrics = scrape(client)
    assert value(metrics, "docsum_request_duration_seconds_count", method="other", route="/v1/summarize",
                 status_code="405", model="") == 1  # fmt: skip
    assert value(metrics, "docsum_request_duration_seconds_count", method="GET", route="unmatched",
                 status_code="404", model="") == 2  # fmt: skip


def test_two_apps_in_one_process_keep_their_own_counts(settings: Settings, registry: ModelRegistry) -> None:
    with (
        TestClient(create_app(settings, registry)) as first,
        TestClient(create_app(settings, registry)) as second,
    ):
        first.post("/v1/summarize", json={"text": TEXTS[0]})
        assert value(scrape(first), "docsum_documents_total", model="fake", outcome="ok") == 1
        assert value(scrape(second), "docsum_documents_total", model="fake", outcome="ok") is None


def test_metrics_can_be_turned_off(registry: ModelRegistry) -> None:
    with TestClient(create_app(Settings(default_model="fake", metrics=False), registry)) as client:
        assert client.get("/metrics").status_code == 404
        assert client.post("/v1/summarize", json={"text": TEXTS[0]}).status_code == 200
