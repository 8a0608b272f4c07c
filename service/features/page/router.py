"""GET / (the page), /static (its files), /docs and /redoc: everything from the installed package, no CDN.

The page is plain HTML, CSS and ES modules in ``service/static`` (no build step); it calls the
same public API any client does. Swagger UI and ReDoc come from the ``fastapi-offline`` package,
which ships their release bundles, so /docs works on a machine with no internet."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.staticfiles import StaticFiles

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


@router.get("/")
async def page() -> FileResponse:
    # no-cache: a new release's page is seen at once (the browser revalidates against the ETag).
    headers = {"Cache-Control": "no-cache", "Content-Security-Policy": PAGE_POLICY}
    return FileResponse(PAGE_DIR / "index.html", headers=headers)


@router.get("/docs")
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


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
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


def install_page(app: FastAPI) -> None:
    """The routes above, and the two folders of files (the docs' first: its path is the longer)."""
    app.include_router(router)
    app.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
    app.mount(PAGE_ASSETS, StaticFiles(directory=PAGE_DIR), name="page-assets")
