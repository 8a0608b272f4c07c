"""GET / (the page), /static (its files), /docs and /redoc: everything from the installed package, no CDN.

The page is plain HTML, CSS and ES modules in ``service/static`` (no build step); it calls the
same public API any client does. Swagger UI and ReDoc come from the ``fastapi-offline`` package,
which ships their release bundles, so /docs works on a machine with no internet."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

from service.auth.gate import require_caller

PAGE_DIR = Path(str(resources.files("service") / "static"))
DOCS_ASSETS_DIR = Path(str(resources.files("fastapi_offline") / "static"))
PAGE_ASSETS = "/static"
DOCS_ASSETS = "/static/docs"

# The page loads nothing but its own files and calls nothing but this server.
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)
# ReDoc's bundle always asks cdn.redoc.ly for its logo (it hides the image when that fails): refused here,
# so reading the docs tells no third party.
REDOC_POLICY = "img-src 'self' data:"

router = APIRouter(include_in_schema=False)
docs_router = APIRouter(include_in_schema=False)

# Who sees /docs and /redoc (and /openapi.json, service.openapi): anyone, callers with a key, or nobody.
DocsVisibility = Literal["public", "keys", "off"]


@router.get("/")
async def page() -> FileResponse:
    # no-cache: a new release's page is seen at once (the browser revalidates against the ETag).
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_POLICY}
    return FileResponse(PAGE_DIR / "index.html", headers=headers)


@docs_router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title="docsum - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
    )


@docs_router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@docs_router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    html = get_redoc_html(
        openapi_url=f"{root}/openapi.json",
        title="docsum - ReDoc",
        redoc_js_url=f"{root}{DOCS_ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{DOCS_ASSETS}/favicon.png",
        with_google_fonts=False,
    )
    html.headers["Content-Security-Policy"] = REDOC_POLICY
    return html


def docs_visibility(setting: str, auth_mode: str) -> DocsVisibility:
    """``DOCSUM_API_DOCS`` read against the auth mode: auto is public in open mode, behind the keys otherwise."""
    if setting == "off":
        return "off"
    if setting == "public" or auth_mode == "open":
        return "public"
    return "keys"


def install_page(app: FastAPI, *, docs: DocsVisibility = "public") -> None:
    """The page (always public: it holds no data, and sends the key its user types), the docs' pages as
    ``docs`` says, and the two folders of files (the docs' first: its path is the longer)."""
    app.include_router(router)
    if docs != "off":
        app.include_router(docs_router, dependencies=[Depends(require_caller)] if docs == "keys" else [])
    app.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    app.mount(PAGE_ASSETS, StaticFiles(directory=PAGE_DIR), name="page-assets")
