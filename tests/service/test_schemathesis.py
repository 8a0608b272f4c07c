"""Schemathesis against the OpenAPI document, over loopback HTTP to a real uvicorn server.

Valid and invalid requests for every operation: no answer may be a 5xx, every status and
content type must be documented, bodies must match their schemas, a request the schema calls
invalid must be refused, and every error must be in the envelope with its documented status.
Bounded (a fixed number of derandomized examples per operation, well under a minute on two
cores), so it runs in every ``make test``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from models.catalog import BUILTIN_MODELS, ModelRegistry, default_loader, probe_source
from models.loading import LoadSettings
from service.app import create_app
from service.errors import ERROR_CODES
from service.settings import Settings
from tests.fakes import FakeSummarizer

# Fuzzes the API for several seconds.
pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 40


@pytest.fixture
def api_schema(tmp_path: Path) -> Iterator[Any]:
    registry = ModelRegistry(BUILTIN_MODELS, default_loader(LoadSettings()), probe_source)
    registry.add(FakeSummarizer())
    settings = Settings(default_model="fake", data_dir=tmp_path / "data", max_document_chars=5_000)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings, registry), log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield schemathesis.openapi.from_url(f"http://127.0.0.1:{port}/openapi.json")
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()


# schemathesis' own pytest integration (from_fixture, parametrize) reads pytest internals that pytest 9
# dropped; driving its strategies with hypothesis directly needs none of them.
_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same cases on every run: CI stays reproducible
    database=None,  # nothing written into the checkout
    phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure shows its case as found
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.fuzz
def test_every_operation_holds_to_the_openapi_document(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10, operations
    for operation in operations:
        for mode in GenerationMode:

            @_SETTINGS
            @given(case=operation.as_strategy(generation_mode=mode))
            def holds(case: Any) -> None:
                check(case)

            try:
                holds()
            except Unsatisfiable:
                # Nothing to make invalid (GET /health takes no input): only the valid mode applies.
                assert mode is GenerationMode.NEGATIVE, operation.label


def check(case: Any) -> None:
    response = case.call(timeout=30)
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
        negative_data_rejection,  # what the schema calls invalid, the server refuses
    ]
    case.validate_response(response, checks=checks)
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "request_id"}, body
        assert [body["request_id"]] == response.headers["x-request-id"]  # schemathesis lists each header's values
        assert ERROR_CODES.get(body["error"]["code"]) == response.status_code, body
