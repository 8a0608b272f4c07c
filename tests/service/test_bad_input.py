"""The bad-input catalogue (issue 16): what callers sent that got a 500 or a different answer per path.

Every case must come back in the error envelope with the status and code the README lists
for it (``service.errors.ERROR_CODES`` is that list; ``tests/test_readme.py`` checks they agree).
Job cases run on SQLite, and on PostgreSQL where DOCSUM_TEST_POSTGRES_URL names one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from models.catalog import ModelRegistry
from service.app import create_app
from service.deps import context_of
from service.errors import DOCUMENT_ERROR_CODES, ERROR_CODES, PROBLEM_CODES
from service.features.jobs.tables import metadata
from service.settings import Settings

POSTGRES_URL = os.environ.get("DOCSUM_TEST_POSTGRES_URL")
DEEP = b"[" * 100_000 + b"]" * 100_000  # as reported; the summarize bodies are capped at 20 KB here
NESTED = b"[" * 5_000 + b"]" * 5_000
BIG = {"x-big": "a" * 40_000}


def assert_envelope(response: Any, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """The README's promise: the status, and the envelope with its code and the request's id."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "request_id"}
    assert {"code", "message", "param"} <= set(body["error"])  # invalid_documents and input_too_long add fields
    assert body["error"]["code"] == code and body["error"]["message"]
    assert body["request_id"] == response.headers["x-request-id"]
    if param is not None:
        assert body["error"]["param"] == param
    return body


@dataclass(frozen=True)
class Case:
    item: str  # the item, and what is sent
    path: str
    status: int
    code: str
    method: str = "POST"
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    files: dict[str, Any] | None = None
    data: dict[str, str] | None = None
    param: str | None = None
    problems: tuple[str, ...] | None = None  # the codes invalid_documents lists, in order


def upload(lines: bytes, **data: str) -> dict[str, Any]:
    return {"files": {"file": ("docs.jsonl", lines)}, "data": data or None}


ENDPOINTS = ("/v1/summarize", "/v1/summarize/batch", "/v1/jobs")
DOC = {"id": "a", "text": "fine words"}
BODIES = {
    "/v1/summarize": {"text": "fine words"},
    "/v1/summarize/batch": {"documents": [DOC]},
    "/v1/jobs": {"documents": [DOC]},
}


def bad_job(item: str, *problems: str, **sent: Any) -> Case:
    """A job refused with 422 invalid_documents, listing ``problems`` (their codes, in order)."""
    return Case(item, "/v1/jobs", 422, "invalid_documents", problems=problems, **sent)


def ask(item: str, status: int, code: str, body: dict[str, Any], **more: Any) -> Case:
    """A JSON body to /v1/summarize (or ``path=``)."""
    return Case(item, more.pop("path", "/v1/summarize"), status, code, json=body, **more)


def raw(item: str, path: str, status: int, code: str, content: bytes, kind: str | None = "application/json") -> Case:
    return Case(item, path, status, code, content=content, headers={"content-type": kind} if kind else {})


BATCH = "/v1/summarize/batch"
EMPTY_DOC = [{"id": "a", "text": ""}]
NUMBER = b'{"max_tokens": ' + b"9" * 5000 + b"}"
MIXED_UPLOAD = b'{"id": "a", "text": "x"}\n{bad\n{"id": "b", "text": " "}\n{"id": "a", "text": "y"}\n{"id": "c"}\n'
MIXED_JSON = [{"id": "a", "text": "x"}, {"id": "b"}, {"id": "a", "text": "y"}, {"id": "c", "text": ""}]

CASES = [
    bad_job("4 deep JSONL line", "invalid_line", **upload(DEEP + b"\n")),
    bad_job("4 huge number line", "invalid_line", **upload(b'{"id": ' + b"9" * 5000 + b"}\n")),
    bad_job("5 lone surrogate line", "invalid_line", **upload(b'{"id": "a", "text": "x \\ud800"}\n')),
    bad_job("6 NUL in a text (JSON)", "invalid_document", json={"documents": [{"id": "a", "text": "x\x00y"}]}),
    bad_job("6 NUL in an id (JSON)", "invalid_document", json={"documents": [{"id": "a\x00", "text": "x"}]}),
    bad_job("6 NUL in a text (upload)", "invalid_document", **upload(b'{"id": "a", "text": "x\\u0000"}\n')),
    Case("6 NUL in a job id", "/v1/jobs/a%00b", 404, "job_not_found", method="GET"),
    Case("6 NUL in a job id to cancel", "/v1/jobs/a%00b", 404, "job_not_found", method="DELETE"),
    ask("7 blank text, seq2seq", 422, "empty_document", {"text": "  \n\t"}, param="text"),
    ask("7 blank text, extractive", 422, "empty_document", {"text": "  \n\t", "model": "extractive"}),
    ask("7 blank text, streamed", 422, "empty_document", {"text": " ", "stream": True}),
    ask("7 empty text", 422, "empty_document", {"text": ""}),
    bad_job("7 blank job text", "empty_document", json={"documents": [{"id": "a", "text": " "}]}),
    ask("8 unknown model, empty batch", 404, "model_not_found", {"documents": EMPTY_DOC, "model": "nope"}, path=BATCH),
    ask("8 bad option, empty batch", 422, "unsupported_option", {"documents": EMPTY_DOC, "sentences": 2}, path=BATCH),
    ask("9 unsupported option, streamed", 422, "unsupported_option", {"text": "x", "sentences": 1, "stream": True}),
    ask("9 too long, streamed", 422, "input_too_long", {"text": "w " * 60, "truncation": "error", "stream": True}),
    ask("9 unknown model, streamed", 404, "model_not_found", {"text": "x", "model": "nope", "stream": True}),
    ask("10 max_tokens true", 422, "invalid_request", {"text": "x", "max_tokens": True}, param="max_tokens"),
    ask("10 stream yes", 422, "invalid_request", {"text": "x", "stream": "yes"}, param="stream"),
    ask("10 no_repeat_ngram_size false", 422, "invalid_request", {"text": "x", "no_repeat_ngram_size": False}),
    ask("10 num_beams 2.0 in a batch", 422, "invalid_request", {"documents": [DOC], "num_beams": 2.0}, path=BATCH),
    ask(
        "10 max_tokens true in a job", 422, "invalid_request", {"documents": [DOC], "max_tokens": True}, path="/v1/jobs"
    ),
    ask("10 a number as a text", 422, "invalid_request", {"text": 5}, param="text"),
    *[raw(f"11 invalid UTF-8 to {p}", p, 422, "invalid_json", b'{"text": "\xff\xfe"}') for p in ENDPOINTS],
    *[raw(f"11 deep nesting to {p}", p, 422, "invalid_json", NESTED) for p in ENDPOINTS],
    *[raw(f"11 a 5000-digit number to {p}", p, 422, "invalid_json", NUMBER) for p in ENDPOINTS],
    *[raw(f"11 a lone surrogate to {p}", p, 422, "invalid_json", b'{"text": "\\ud800"}') for p in ENDPOINTS],
    *[raw(f"11 not JSON at all to {p}", p, 422, "invalid_json", b"{nope") for p in ENDPOINTS],
    *[ask(f"11 a 40 KB header to {p}", 431, "headers_too_large", BODIES[p], path=p, headers=BIG) for p in ENDPOINTS],
    Case("11 a 40 KB header to /health", "/health", 431, "headers_too_large", method="GET", headers=BIG),
    *[raw(f"12 plain text to {p}", p, 415, "unsupported_media_type", b"hello", "text/plain") for p in ENDPOINTS],
    *[raw(f"12 no content type to {p}", p, 415, "unsupported_media_type", b'{"text": "x"}', None) for p in ENDPOINTS],
    # /v1/summarize takes a multipart file (tests/service/features/summarize/test_upload.py); its batch does not.
    Case("12 multipart to the batch endpoint", BATCH, 415, "unsupported_media_type", **upload(b"x\n")),
    Case("12 a form to the batch endpoint", BATCH, 415, "unsupported_media_type", data={"text": "x"}),
    bad_job(
        "13 every kind of problem in one answer",
        *("duplicate_id", "invalid_line", "empty_document", "duplicate_id", "invalid_line"),
        **upload(MIXED_UPLOAD),
    ),
    bad_job(
        "13 every kind of problem in a JSON job",
        *("duplicate_id", "invalid_document", "duplicate_id", "empty_document"),
        json={"documents": MIXED_JSON},
    ),
    raw(
        "14 malformed multipart",
        "/v1/jobs",
        422,
        "invalid_request",
        b"--x\r\nno part",
        "multipart/form-data; boundary=x",
    ),
    ask(
        "14 min over max_tokens",
        422,
        "invalid_request",
        {"text": "x", "min_tokens": 5, "max_tokens": 2},
        param="min_tokens",
    ),
    ask("14 num_beams on extractive", 422, "unsupported_option", {"text": "x", "model": "extractive", "num_beams": 2}),
    Case("14 a method no route has", "/v1/jobs", 405, "method_not_allowed", method="PUT"),
    Case("15 an 8 KB job id", "/v1/jobs/" + "x" * 8192, 404, "job_not_found", method="GET"),
]


@pytest.fixture
def postgres_client(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    """Without the lifespan, so no job worker (its store threads can outlive store.close() at shutdown):
    every connection is back in the pool when the store closes."""
    if not POSTGRES_URL:
        pytest.skip("DOCSUM_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)
    engine.dispose()
    app = create_app(settings.model_copy(update={"database_url": POSTGRES_URL}), registry)
    yield TestClient(app, raise_server_exceptions=False)
    context_of(app).job_store.close()
    context_of(app).engine.close()


@pytest.mark.parametrize("case", CASES, ids=[case.item for case in CASES])
def test_bad_input_gets_the_documented_status_and_code(client: TestClient, case: Case) -> None:
    check(client, case)


JOB_CASES = [case for case in CASES if case.path.startswith("/v1/jobs")]


@pytest.mark.parametrize("case", JOB_CASES, ids=[case.item for case in JOB_CASES])
def test_bad_job_input_gets_the_same_answer_on_postgresql(postgres_client: TestClient, case: Case) -> None:
    check(postgres_client, case)


def check(client: TestClient, case: Case) -> None:
    response = client.request(
        case.method,
        case.path,
        json=case.json,
        content=case.content,
        headers=case.headers,
        files=case.files,
        data=case.data,
    )
    body = assert_envelope(response, case.status, case.code, case.param)
    assert ERROR_CODES[case.code] == case.status
    assert len(response.text) < 8000  # nothing sent is echoed whole
    if case.problems is not None:
        assert tuple(p["code"] for p in body["error"]["problems"]) == case.problems
        assert set(case.problems) <= set(PROBLEM_CODES)
    if case.status == 405:
        assert response.headers["allow"] == "GET, HEAD, OPTIONS, POST"


def test_a_blank_batch_item_fails_alone_with_the_same_code(client: TestClient) -> None:
    documents = [{"id": "blank", "text": " \n"}, {"id": "empty", "text": ""}, DOC]
    results = client.post("/v1/summarize/batch", json={"documents": documents}).json()["results"]
    assert [r.get("error", {}).get("code") for r in results] == ["empty_document", "empty_document", None]
    assert "empty_document" in DOCUMENT_ERROR_CODES


def test_an_upload_still_takes_its_options_as_form_strings(client: TestClient) -> None:
    response = client.post("/v1/jobs", **upload(b'{"id": "a", "text": "x y z"}\n', max_tokens="2", format="bullets"))
    assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/v1/jobs", "GET, HEAD, OPTIONS, POST"),
        ("/v1/jobs/some-id", "DELETE, GET, HEAD, OPTIONS"),
        ("/v1/jobs/some-id/results", "GET, HEAD, OPTIONS"),
        ("/v1/summarize", "OPTIONS, POST"),
        ("/health", "GET, HEAD, OPTIONS"),
    ],
)
def test_options_names_every_method_of_the_path(client: TestClient, path: str, allow: str) -> None:
    response = client.options(path)
    assert response.status_code == 204
    assert response.headers["allow"] == allow
    assert_envelope(client.options("/v1/nothing"), 404, "not_found")


def test_a_cancelled_job_keeps_its_results_readable(client: TestClient) -> None:
    job_id = client.post("/v1/jobs", json={"documents": [DOC]}).json()["id"]
    assert client.delete(f"/v1/jobs/{job_id}").status_code == 200
    results = client.get(f"/v1/jobs/{job_id}/results")
    assert results.status_code == 200
    assert results.headers["x-job-status"] in {"cancelled", "succeeded"}


def test_every_code_raised_in_the_service_is_in_the_table() -> None:
    raised: set[str] = set()
    for source in Path(__file__).parents[2].joinpath("service").rglob("*.py"):
        text = source.read_text()
        raised |= set(re.findall(r'code="([a-z_]+)"', text))
        raised |= set(re.findall(r'error_(?:body|response)\((?:request, \d+, )?"([a-z_]+)"', text))
    assert raised, "the scan found nothing: its patterns are out of date"
    assert raised <= set(ERROR_CODES), raised - set(ERROR_CODES)


def test_the_openapi_document_says_what_the_server_enforces(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    for model in ("SummarizeRequest", "JobDocument"):
        text = schemas[model]["properties"]["text"]
        assert text["minLength"] == 1 and text["pattern"] == r"\S", model
    params = schemas["SummarizeRequest"]["properties"]
    assert "max_tokens" in params["min_tokens"]["description"]
    assert "unsupported_option" in params["num_beams"]["description"]
    assert "unsupported_option" in params["sentences"]["description"]
    assert "HTTPValidationError" not in schemas
    envelope = "#/components/schemas/ErrorResponse"
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) or status == "default":
                    assert response["content"]["application/json"]["schema"]["$ref"] == envelope, (path, method, status)
            assert "default" in operation["responses"], (path, method)
    for path in ("/v1/summarize", "/v1/summarize/batch"):
        responses = spec["paths"][path]["post"]["responses"]
        assert {"404", "413", "415", "422", "429", "503"} <= set(responses)
        assert "Retry-After" in responses["429"]["headers"]
    assert {"404", "413", "415", "422", "503"} <= set(spec["paths"]["/v1/jobs"]["post"]["responses"])
