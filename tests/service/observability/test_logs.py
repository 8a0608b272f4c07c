"""Log lines, text or JSON: each line of a request carries its id, and no request header is ever logged."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from service.observability.logs import LogFormat, configure_logging, log_handler
from tests.fakes import FAIL_MARKER

SECRET = "Bearer sk-do-not-log-me"


@pytest.fixture
def logged(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]) -> Iterator[LogFormat]:
    """docsum's handler on the root logger, in the format the test is parametrized with."""
    log_format: LogFormat = request.param
    handler = log_handler(log_format)
    root = logging.getLogger()
    root.addHandler(handler)
    capsys.readouterr()
    try:
        yield log_format
    finally:
        root.removeHandler(handler)


def fail_a_request(client: TestClient) -> str:
    """A request the model breaks on: a 500, logged with its traceback; its request id."""
    response = client.post(
        "/v1/summarize",
        json={"text": f"{FAIL_MARKER} now"},
        headers={"Authorization": SECRET, "X-API-Key": SECRET, "X-Request-ID": "req-42"},
    )
    assert response.status_code == 500
    return response.headers["x-request-id"]


@pytest.mark.parametrize("logged", ["json"], indirect=True)
def test_json_lines_carry_the_request_id_and_never_a_header(
    client: TestClient, logged: LogFormat, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fail_a_request(client) == "req-42"
    logging.getLogger("docsum.test").warning("outside any request")
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    [failure] = [line for line in lines if line["message"].startswith("unhandled error")]
    assert failure["message"] == "unhandled error on POST /v1/summarize"
    assert failure["level"] == "ERROR" and failure["logger"] == "service.middleware"
    assert failure["request_id"] == "req-42"
    assert "the fake model broke" in failure["exception"]
    assert set(failure) == {"time", "level", "logger", "message", "request_id", "exception"}
    [outside] = [line for line in lines if line["message"] == "outside any request"]
    assert outside["request_id"] is None
    assert "sk-do-not-log-me" not in err


@pytest.mark.parametrize("logged", ["text"], indirect=True)
def test_text_lines_carry_the_request_id_in_brackets(
    client: TestClient, logged: LogFormat, capsys: pytest.CaptureFixture[str]
) -> None:
    fail_a_request(client)
    logging.getLogger("docsum.test").warning("outside any request")
    err = capsys.readouterr().err
    assert "ERROR service.middleware [req-42]: unhandled error on POST /v1/summarize" in err
    assert "WARNING docsum.test: outside any request" in err
    assert "sk-do-not-log-me" not in err


def test_configure_logging_installs_one_handler_and_defers_to_one_already_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = logging.getLogger()
    level = root.level
    monkeypatch.setattr(root, "handlers", [])
    try:
        configure_logging("debug", "json")
        configure_logging("info", "text")  # replaces its own handler
        [handler] = root.handlers
        assert handler.get_name() == "docsum" and root.level == logging.INFO
        assert not isinstance(handler.formatter, type(log_handler("json").formatter))

        other = logging.NullHandler()
        root.handlers = [other]
        configure_logging("debug", "json")  # the process logs elsewhere already: left alone
        assert root.handlers == [other] and root.level == logging.INFO
    finally:
        root.setLevel(level)


@pytest.mark.parametrize("logged", ["json"], indirect=True)
def test_a_json_line_inside_a_span_carries_its_trace_and_span_ids(
    logged: LogFormat, capsys: pytest.CaptureFixture[str]
) -> None:
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("work") as span:
        logging.getLogger("docsum.test").warning("inside a span")
    provider.shutdown()
    [line] = [json.loads(line) for line in capsys.readouterr().err.splitlines() if "inside a span" in line]
    context = span.get_span_context()
    assert (line["trace_id"], line["span_id"]) == (format(context.trace_id, "032x"), format(context.span_id, "016x"))
