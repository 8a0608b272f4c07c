"""The client without a server: retries and Retry-After, errors, SSE, resumable downloads, its weight."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from service.client import AsyncClient, Client, InvalidRequestError, RateLimitedError, RetryPolicy, StreamError
from service.client import sync as client_sync
from service.client.core import ResultsWriter, SSEParser, job_body
from service.client.errors import NotFoundError, UnavailableError, error_from_response

ROOT = Path(__file__).resolve().parents[3]


def envelope(code: str, message: str = "m", **extra: object) -> dict[str, object]:
    return {"error": {"code": code, "message": message, "param": None, **extra}, "request_id": "r1"}


def test_importing_the_client_loads_no_torch_transformers_or_server() -> None:
    code = (
        "import sys, service.client; "
        "heavy = [m for m in ('torch', 'transformers', 'fastapi', 'starlette', 'sqlalchemy', 'service.app') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_errors_mirror_the_envelope() -> None:
    response = httpx.Response(422, json=envelope("too_many_chunks", chunks=9, max_chunks=4))
    error = error_from_response(response)
    assert isinstance(error, InvalidRequestError)
    assert (error.status, error.code, error.request_id) == (422, "too_many_chunks", "r1")
    assert error.details == {"chunks": 9, "max_chunks": 4}
    limited = error_from_response(httpx.Response(429, json=envelope("overloaded"), headers={"Retry-After": "7"}))
    assert isinstance(limited, RateLimitedError)
    assert limited.retry_after == 7
    assert isinstance(error_from_response(httpx.Response(404, json=envelope("job_not_found"))), NotFoundError)
    assert error_from_response(httpx.Response(502, text="<html>")).code == "unknown"


def test_retry_policy_honours_retry_after_and_gives_up() -> None:
    policy = RetryPolicy(attempts=3, max_wait=10)
    told = httpx.Response(429, json=envelope("overloaded"), headers={"Retry-After": "4"})
    assert policy.delay(0, told) == 4
    assert policy.delay(0, httpx.Response(429, headers={"Retry-After": "999"})) == 10
    assert policy.delay(2, told) is None  # the third attempt was the last
    assert policy.delay(0, httpx.Response(422, json=envelope("invalid_request"))) is None
    assert policy.delay(0, httpx.Response(503, json=envelope("model_unavailable"))) is None
    backoff = policy.delay(1, httpx.Response(503, json=envelope("shutting_down")))
    assert backoff is not None
    assert 0.5 <= backoff <= 1.5


def test_client_retries_429_after_the_wait_the_server_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [
        httpx.Response(429, json=envelope("overloaded"), headers={"Retry-After": "3"}),
        httpx.Response(503, json=envelope("shutting_down"), headers={"Retry-After": "2"}),
        httpx.Response(200, json={"summary": "ok"}),
    ]
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers[len(seen) - 1]

    slept: list[float] = []
    monkeypatch.setattr(client_sync.time, "sleep", slept.append)
    with Client("http://docsum", api_key="k-1", transport=httpx.MockTransport(handler)) as client:
        assert client.summarize("text", model="extractive", max_tokens=5)["summary"] == "ok"
    assert slept == [3, 2]
    assert len(seen) == 3
    assert seen[0].headers["authorization"] == "Bearer k-1"
    assert json.loads(seen[0].content) == {"text": "text", "model": "extractive", "max_tokens": 5}


def test_client_raises_the_typed_error_when_retrying_will_not_help() -> None:
    transport = httpx.MockTransport(lambda _: httpx.Response(422, json=envelope("empty_document")))
    with Client("http://docsum", transport=transport) as client, pytest.raises(InvalidRequestError) as caught:
        client.summarize(" ")
    assert caught.value.code == "empty_document"


def test_async_client_gives_up_after_its_attempts() -> None:
    calls = 0

    def handler(_: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(503, json=envelope("not_ready"), headers={"Retry-After": "0"})

    async def run() -> None:
        policy = RetryPolicy(attempts=2)
        async with AsyncClient("http://docsum", retry=policy, transport=httpx.MockTransport(handler)) as client:
            await client.models()

    with pytest.raises(UnavailableError):
        asyncio.run(run())
    assert calls == 2


def test_sse_parser_yields_events_and_raises_an_error_event() -> None:
    parser = SSEParser()
    stream = (
        'event: progress\ndata: {"chunks_done": 1}\n\n: keep-alive\nevent: later\ndata: {}\n\n'
        'event: token\ndata: {"text": "Hi"}\n\n'
    )
    events = [event for line in stream.split("\n") for event in parser.feed(line)]
    assert [(e.type, e.data) for e in events] == [("progress", {"chunks_done": 1}), ("token", {"text": "Hi"})]
    assert events[1].text == "Hi"
    with pytest.raises(StreamError) as caught:
        for line in ["event: error", "data: " + json.dumps(envelope("summarization_failed")), ""]:
            list(parser.feed(line))
    assert caught.value.code == "summarization_failed"


def line(doc_id: str) -> str:
    return json.dumps({"id": doc_id, "summary": f"s{doc_id}"})


def test_a_download_resumes_after_the_last_whole_line(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(line("a") + "\n" + line("b") + "\n" + '{"id": "c", "summ')  # cut mid-line
    writer = ResultsWriter(out, resume=True)
    for doc_id in "abcd":
        writer.line(line(doc_id))
    writer.finish()
    assert out.read_text().splitlines() == [line(d) for d in "abcd"]
    assert (writer.seen, writer.skipped) == (4, 2)


def test_a_download_into_another_jobs_file_starts_over(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("".join(line(d) + "\n" for d in "xyz"))
    writer = ResultsWriter(out, resume=True)
    writer.line(line("a"))
    writer.finish()
    assert out.read_text().splitlines() == [line("a")]
    out.write_text("".join(line(d) + "\n" for d in "abc"))  # longer than the results: cut after them
    writer = ResultsWriter(out, resume=True)
    writer.line(line("a"))
    writer.finish()
    assert out.read_text().splitlines() == [line("a")]


def test_job_body_takes_documents_or_a_file(tmp_path: Path) -> None:
    body = job_body(["first", ("b", "second")], None, "m", None, {"max_tokens": 9, "grounding": None})
    assert body == {
        "json": {
            "model": "m",
            "max_tokens": 9,
            "documents": [{"id": "1", "text": "first"}, {"id": "b", "text": "second"}],
        }
    }
    upload = job_body(None, tmp_path / "d.jsonl", None, "https://hooks.example/x", {"grounding": False})["upload"]
    assert upload.fields == {"grounding": "false", "webhook_url": "https://hooks.example/x"}
    with pytest.raises(ValueError, match="either"):
        job_body(None, None, None, None, {})


def test_stream_and_download_are_retried_before_they_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sse = b'event: token\ndata: {"text": "Hi"}\n\nevent: summary\ndata: {"summary": "Hi."}\n\n'
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if len(calls) % 2:  # every first try: the server is busy, or not there yet
            if request.url.path.endswith("/results"):
                raise httpx.ConnectError("refused", request=request)
            return httpx.Response(429, json=envelope("overloaded"), headers={"Retry-After": "1"})
        if request.url.path.endswith("/results"):
            return httpx.Response(200, content=(line("a") + "\n").encode())
        return httpx.Response(200, content=sse, headers={"content-type": "text/event-stream"})

    monkeypatch.setattr(client_sync.time, "sleep", lambda _: None)
    with Client("http://docsum", transport=httpx.MockTransport(handler)) as client:
        events = list(client.stream("text"))
        assert [(e.type, e.text) for e in events] == [("token", "Hi"), ("summary", "Hi.")]
        assert client.download("j1", tmp_path / "out.jsonl") == 1
    assert calls == ["/v1/summarize", "/v1/summarize", "/v1/jobs/j1/results", "/v1/jobs/j1/results"]
