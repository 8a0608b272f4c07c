"""The OpenAPI document: FastAPI's, plus the components hand-written request bodies refer to."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from service.features.jobs.protocol import JobRequest
from service.features.summarize.protocol import SummarizeRequest


def install_openapi(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            # POST /v1/jobs declares its JSON body by hand (it also takes an upload): add what it refers to.
            defined = JobRequest.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {})
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, definition in defined.items():
                components.setdefault(name, definition)
            # So does POST /v1/summarize (it also takes a file).
            request = SummarizeRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            for name, definition in request.pop("$defs", {}).items():
                components.setdefault(name, definition)
            components.setdefault("SummarizeRequest", request)
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
