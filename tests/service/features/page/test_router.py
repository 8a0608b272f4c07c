"""GET /, its files and /docs, /redoc: served from the package, nothing fetched from another host."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from fastapi.testclient import TestClient

from service.features.page.router import DOCS_ASSETS_DIR, PAGE_DIR

ROOT = Path(__file__).resolve().parents[4]
# Any absolute URL in markup, CSS or script: the page must work with no network but the server's.
_ABSOLUTE_URL = re.compile(
    r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|import[^;]*["']https?://"""
)


def test_the_page_is_served_at_the_root(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="static/main.js">' in response.text
    assert response.headers["cache-control"] == "no-cache"


def test_every_file_of_the_page_is_served_and_refers_to_no_other_host(client: TestClient) -> None:
    files = sorted(PAGE_DIR.iterdir())
    assert {path.name for path in files} >= {"index.html", "app.css", "main.js", "api.js", "source.js", "jobs.js"}
    for path in files:
        response = client.get(f"/static/{path.name}")
        assert response.status_code == 200, path.name
        assert not _ABSOLUTE_URL.search(response.text), path.name


def test_the_modules_the_page_imports_exist(client: TestClient) -> None:
    for path in PAGE_DIR.glob("*.js"):
        for name in re.findall(r'from "\./([\w.-]+)"', path.read_text()):
            assert (PAGE_DIR / name).is_file(), f"{path.name} imports {name}"


def test_docs_and_redoc_load_their_assets_from_this_server(client: TestClient) -> None:
    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        urls = re.findall(r'(?:src|href)="([^"]+)"', html)
        assert urls, page
        for url in urls:
            assert url.startswith("/static/docs/"), (page, url)
            asset = client.get(url)
            assert asset.status_code == 200, url
            assert len(asset.content) > 1000, url
        assert "fonts.googleapis.com" not in html
        assert not re.search(r"https?://(?!127\.0\.0\.1)", re.sub(r"<!--.*?-->", "", html, flags=re.S)), page
    assert (DOCS_ASSETS_DIR / "swagger-ui-bundle.js").is_file()


def test_the_docs_pages_stay_out_of_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not {"/", "/docs", "/redoc", "/docs/oauth2-redirect"} & set(paths)


def test_an_unknown_static_file_is_a_404_in_the_envelope(client: TestClient) -> None:
    response = client.get("/static/nothing.js")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_wheel_ships_the_page() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert config["tool"]["setuptools"]["package-data"]["service"] == ["static/*"]
    assert PAGE_DIR == ROOT / "service" / "static"
    assert not [path for path in PAGE_DIR.iterdir() if path.is_dir()]  # static/* takes no subfolder


def test_the_page_and_redoc_may_load_nothing_from_another_host(client: TestClient) -> None:
    policy = client.get("/").headers["content-security-policy"]
    assert "default-src 'self'" in policy and "img-src 'self' data:" in policy
    assert client.get("/redoc").headers["content-security-policy"] == "img-src 'self' data:"
