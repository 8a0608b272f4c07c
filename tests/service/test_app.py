"""The app as a whole: its OpenAPI document, the error envelope on framework errors, start-up."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from models.catalog import ModelRegistry
from models.errors import UnknownModel
from service.app import create_app
from service.settings import Settings
from tests.service.envelope import assert_envelope

# The page for people and the API docs (service/features/page): HTML, not API, so not in the document.
_PAGES = frozenset({"/", "/docs", "/docs/oauth2-redirect", "/redoc"})


def _api_routes(routes: list[Any]) -> list[APIRoute]:
    """The app's API routes; FastAPI keeps an included router's routes behind a wrapper (``original_router``)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif (included := getattr(route, "original_router", None)) is not None:
            found += _api_routes(included.routes)
    return found


def test_openapi_documents_every_route_and_its_errors(client: TestClient) -> None:
    """Every route the app serves, with each of its methods, is in the document (jobs and ground included),
    and every operation documents its errors in the one envelope."""
    paths = client.get("/openapi.json").json()["paths"]
    routes = [route for route in _api_routes(client.app.routes) if route.path not in _PAGES]  # type: ignore[attr-defined]
    served = {(route.path, method.lower()) for route in routes for method in route.methods}
    documented = {(path, method) for path, operations in paths.items() for method in operations}
    assert documented == served
    assert {"/v1/jobs", "/v1/jobs/{job_id}", "/v1/jobs/{job_id}/results", "/v1/ground"} <= set(paths)
    for path, method in served:
        operation = paths[path][method]
        errors = {status: body for status, body in operation["responses"].items() if status.startswith(("4", "5"))}
        takes_input = "requestBody" in operation or bool(operation.get("parameters"))
        assert errors or not takes_input, f"{method.upper()} {path} takes input but documents no error"
        for status, body in errors.items():
            schema = body["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorResponse"}, (path, method, status)


def test_invalid_json_gets_the_envelope(client: TestClient) -> None:
    response = client.post("/v1/summarize", content=b"{not json", headers={"content-type": "application/json"})
    assert_envelope(response, 422, "invalid_json")


def test_framework_errors_use_the_envelope(client: TestClient) -> None:
    assert_envelope(client.get("/v1/nothing"), 404, "not_found")
    assert_envelope(client.get("/v1/summarize"), 405, "method_not_allowed")


def test_unknown_default_model_fails_at_start_up(registry: ModelRegistry) -> None:
    with pytest.raises(UnknownModel):
        create_app(Settings(default_model="nope"), registry)
