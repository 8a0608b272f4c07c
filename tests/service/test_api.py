from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from models.catalog import ModelRegistry, ModelSpec
from models.errors import UnknownModel
from service.app import create_app
from service.settings import Settings
from tests.fakes import FAIL_MARKER, FakeSummarizer


def assert_envelope(response: Any, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "request_id"}
    assert set(body["error"]) == {"code", "message", "param"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    if param is not None:
        assert body["error"]["param"] == param
    assert "Traceback" not in response.text
    return body


def test_summarize_returns_summary_usage_and_model(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": "one two three four five six seven"})
    assert response.status_code == 200
    assert response.json() == {
        "summary": "one two three four five",
        "model": "fake",
        "format": "paragraph",
        "sentences": None,
        "usage": {"input_tokens": 7, "output_tokens": 5},
        "truncated": False,
        "chunks": None,
        "reduce_rounds": 0,
        "grounding": None,  # the fake summarizer writes no grounding (tests/service/test_ground.py has real ones)
    }


def test_options_reach_the_summarizer(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": "a b c d e f", "max_tokens": 2, "format": "bullets"})
    assert response.json()["summary"] == "- a b"
    assert response.json()["format"] == "bullets"


def test_truncation_is_reported_with_the_whole_input_counted(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": "word " * 80})
    assert response.json()["truncated"] is True
    assert response.json()["usage"]["input_tokens"] == 80


def test_extractive_model_returns_sentences_with_exact_offsets(client: TestClient, news_article: str) -> None:
    response = client.post("/v1/summarize", json={"text": news_article, "model": "extractive", "sentences": 3})
    assert response.status_code == 200
    sentences = response.json()["sentences"]
    assert len(sentences) == 3
    for sentence in sentences:
        assert news_article[sentence["offset"] : sentence["offset"] + sentence["length"]] == sentence["text"]
    assert [s["offset"] for s in sentences] == sorted(s["offset"] for s in sentences)


def test_batch_keeps_input_order_and_isolates_failures(client: TestClient, fake: FakeSummarizer) -> None:
    documents = [
        {"id": "a", "text": "alpha beta"},
        {"id": "b", "text": f"broken {FAIL_MARKER}"},
        {"id": "c", "text": "   "},
        {"id": "d", "text": "delta epsilon zeta " * 10},
    ]
    response = client.post("/v1/summarize/batch", json={"documents": documents})
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["id"] for r in results] == ["a", "b", "c", "d"]
    assert results[0]["summary"] == "alpha beta"
    assert results[1]["error"]["code"] == "summarization_failed"
    assert results[2]["error"]["code"] == "empty_document"
    assert results[3]["summary"].startswith("delta")
    # The good documents went through the model together before the failing batch was split up.
    assert len(fake.calls[0]) == 3


def test_batch_document_over_the_character_limit_fails_alone(client: TestClient) -> None:
    documents = [{"id": "big", "text": "x " * 1500}, {"id": "ok", "text": "fine text"}]
    results = client.post("/v1/summarize/batch", json={"documents": documents}).json()["results"]
    assert results[0]["error"]["code"] == "document_too_large"
    assert results[1]["summary"] == "fine text"


def test_batch_refuses_duplicate_ids_and_too_many_documents(client: TestClient) -> None:
    duplicate = [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]
    assert_envelope(client.post("/v1/summarize/batch", json={"documents": duplicate}), 422, "duplicate_id")
    many = [{"id": str(i), "text": "x"} for i in range(6)]
    assert_envelope(client.post("/v1/summarize/batch", json={"documents": many}), 422, "too_many_documents")


def test_models_lists_catalog_with_state(client: TestClient) -> None:
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["fake"]["loaded"] is True and models["fake"]["default"] is True
    assert models["fake"]["max_input_tokens"] == 50
    assert models["bart-large-cnn"]["available"] is False
    assert "HF_HUB_OFFLINE" in models["bart-large-cnn"]["reason"]
    assert set(models) >= {"extractive", "distilbart-cnn", "pegasus-cnn", "pegasus-xsum", "t5-small", "flan-t5-base"}


def test_health_and_ready(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready", "model": "fake"}


def test_openapi_documents_the_endpoints(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/summarize", "/v1/summarize/batch", "/v1/models", "/health", "/ready"} <= set(paths)


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"text": "x", "unknown": 1}, "invalid_request", "unknown"),
        ({}, "invalid_request", "text"),
        ({"text": ""}, "empty_document", "text"),
        ({"text": "x", "num_beams": 0}, "invalid_request", "num_beams"),
        ({"text": "x", "format": "html"}, "invalid_request", "format"),
        ({"text": "x", "min_tokens": 9, "max_tokens": 3}, "invalid_request", "min_tokens"),
        ({"text": "x", "model": "../../etc/passwd"}, "invalid_request", "model"),
        ({"text": "x", "sentences": 2}, "unsupported_option", "sentences"),
        ({"text": "x", "query": "q" * 1001}, "query_too_long", "query"),
    ],
)
def test_bad_requests_get_422_in_the_envelope(
    client: TestClient, body: dict[str, Any], code: str, param: str | None
) -> None:
    assert_envelope(client.post("/v1/summarize", json=body), 422, code, param)


def test_invalid_json_gets_the_envelope(client: TestClient) -> None:
    response = client.post("/v1/summarize", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(response, 422, "invalid_json")


def test_unknown_and_unavailable_models(client: TestClient) -> None:
    assert_envelope(client.post("/v1/summarize", json={"text": "x", "model": "nope"}), 404, "model_not_found", "model")
    body = assert_envelope(
        client.post("/v1/summarize", json={"text": "x", "model": "pegasus-xsum"}), 503, "model_unavailable", "model"
    )
    assert "pegasus-xsum" in body["error"]["message"]
    # Other models keep working.
    assert client.post("/v1/summarize", json={"text": "still fine"}).status_code == 200


def test_framework_errors_use_the_envelope(client: TestClient) -> None:
    assert_envelope(client.get("/v1/nothing"), 404, "not_found")
    assert_envelope(client.get("/v1/summarize"), 405, "method_not_allowed")


def test_document_over_the_character_limit_is_413(client: TestClient) -> None:
    assert_envelope(client.post("/v1/summarize", json={"text": "x" * 2001}), 413, "document_too_large", "text")


def test_body_over_the_size_limit_is_413(client: TestClient) -> None:
    assert_envelope(client.post("/v1/summarize", json={"text": "x" * 30_000}), 413, "body_too_large")


def test_streamed_body_over_the_size_limit_is_413(client: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"text": "'
        for _ in range(30):
            yield b"x" * 1000
        yield b'"}'

    assert_envelope(
        client.post("/v1/summarize", content=chunks(), headers={"content-type": "application/json"}),
        413,
        "body_too_large",
    )


def test_model_failure_is_a_clean_500(client: TestClient) -> None:
    body = assert_envelope(client.post("/v1/summarize", json={"text": f"x {FAIL_MARKER}"}), 500, "internal_error")
    assert "fake model broke" not in body["error"]["message"]


def test_client_request_id_is_echoed(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": "x"}, headers={"x-request-id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    odd = client.get("/health", headers={"x-request-id": "bad id\twith spaces"})
    assert odd.headers["x-request-id"] != "bad id\twith spaces"


def test_concurrent_requests_never_share_the_model(client: TestClient, fake: FakeSummarizer) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(8) as pool:
        statuses = list(
            pool.map(lambda i: client.post("/v1/summarize", json={"text": f"doc {i}"}).status_code, range(24))
        )
    assert statuses == [200] * 24
    assert fake.max_in_flight == 1
    assert len(fake.threads) == 1


def test_ready_is_503_until_the_default_model_loads(settings: Settings) -> None:
    release = threading.Event()

    def slow_loader(spec: ModelSpec) -> FakeSummarizer:
        release.wait(10)
        return FakeSummarizer(spec.name)

    registry = ModelRegistry({"slow": ModelSpec("slow", "org/slow")}, slow_loader)
    with TestClient(create_app(settings.model_copy(update={"default_model": "slow"}), registry)) as client:
        assert_envelope(client.get("/ready"), 503, "not_ready")
        assert client.get("/health").status_code == 200
        release.set()
        assert client.post("/v1/summarize", json={"text": "now it works"}).status_code == 200
        assert client.get("/ready").status_code == 200


def test_unknown_default_model_fails_at_start_up(registry: ModelRegistry) -> None:
    with pytest.raises(UnknownModel):
        create_app(Settings(default_model="nope"), registry)
