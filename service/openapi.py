"""The OpenAPI document: FastAPI's, plus the components hand-written request bodies refer to.

Where it is seen (``DOCSUM_API_DOCS``): FastAPI's public /docs, /redoc and /openapi.json; the same
three behind the API keys; or none.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse

from service.auth.gate import require_caller
from service.features.jobs.protocol import JobRequest
from service.features.summarize.protocol import SummarizeRequest


def install_openapi(app: FastAPI, *, behind_keys: bool = False) -> None:
    """Complete the document; ``behind_keys``: serve it and its pages to callers with a key only."""
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
    if behind_keys:
        _install_private_docs(app)


def _install_private_docs(app: FastAPI) -> None:
    """/openapi.json for callers with a key; its pages (/docs, /redoc) come from service.features.page."""

    @app.get("/openapi.json", include_in_schema=False, dependencies=[Depends(require_caller)])
    async def openapi_document() -> JSONResponse:
        return JSONResponse(app.openapi())
