from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from tests.fakes import FAIL_MARKER


def events(response: Any) -> list[tuple[str, Any]]:
    assert response.headers["content-type"].startswith("text/event-stream")
    parsed = []
    for frame in response.text.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in fields:
            parsed.append((fields["event"], json.loads(fields["data"])))
    return parsed


def test_events_arrive_in_order_and_end_with_the_plain_response(client: TestClient) -> None:
    body = {"text": "one two three four five six", "max_tokens": 3}
    streamed = events(client.post("/v1/summarize", json={**body, "stream": True}))
    names = [name for name, _ in streamed]
    assert names == ["progress", "token", "token", "token", "summary"]
    assert streamed[0][1] == {"chunks_done": 1, "chunks_total": 1, "round": 0}
    assert "".join(data["text"] for name, data in streamed if name == "token").split() == ["one", "two", "three"]
    assert streamed[-1][1] == client.post("/v1/summarize", json=body).json()


def test_a_failure_mid_stream_is_an_error_event(client: TestClient) -> None:
    response = client.post("/v1/summarize", json={"text": f"some words {FAIL_MARKER}", "stream": True})
    assert response.status_code == 200
    streamed = events(response)
    assert [name for name, _ in streamed][-1] == "error"
    assert "token" in [name for name, _ in streamed]
    error = streamed[-1][1]
    assert error["error"]["code"] == "internal_error"
    assert error["request_id"] == response.headers["x-request-id"]


def test_a_model_error_in_the_stream_keeps_its_code(client: TestClient) -> None:
    streamed = events(client.post("/v1/summarize", json={"text": "x", "sentences": 2, "stream": True}))
    assert streamed == [("error", streamed[0][1])]
    assert streamed[0][1]["error"]["code"] == "unsupported_option"


def test_what_can_be_refused_up_front_is_a_plain_error(client: TestClient) -> None:
    unknown = client.post("/v1/summarize", json={"text": "x", "model": "nope", "stream": True})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    unavailable = client.post("/v1/summarize", json={"text": "x", "model": "t5-small", "stream": True})
    assert unavailable.status_code == 503
    too_long = client.post("/v1/summarize", json={"text": "x" * 3000, "stream": True})
    assert too_long.status_code == 413


def test_a_long_document_streams_progress_then_the_same_summary(tiny_bart_dir: Path) -> None:
    settings = Settings(models=(f"tiny={tiny_bart_dir}",), default_model="tiny", dtype="float32")
    text = "The council approved the bridge after a long debate. " * 40
    body = {"text": text, "max_tokens": 8, "num_beams": 1}
    with TestClient(create_app(settings)) as client:
        streamed = events(client.post("/v1/summarize", json={**body, "stream": True}))
        plain = client.post("/v1/summarize", json=body).json()
    final = streamed[-1]
    assert final == ("summary", plain)
    progress = [data for name, data in streamed if name == "progress" and data["round"] == 0]
    assert [p["chunks_done"] for p in progress] == list(range(1, len(plain["chunks"]) + 1))
    tokens = "".join(data["text"] for name, data in streamed if name == "token")
    assert " ".join(tokens.split()) == plain["summary"]
