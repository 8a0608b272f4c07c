"""The page against a `docsum serve` that needs API keys: it says so, takes the key, keeps it in this tab's
sessionStorage only, sends it as X-API-Key on every call (never in a URL), and downloads a job's results."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from service.auth.keys import key_line, new_key
from tests.conftest import NEWS_ARTICLE
from tests.service.features.jobs.test_durability import Server
from tests.service.features.page.browser import serve, submit_job
from tests.service.features.page.test_browser import TIMEOUT_MS, keep_local

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Request

# Starts a server process and a browser.
pytestmark = pytest.mark.slow

KEY = new_key()
# Chromium logs every 4xx answer as a console error: the 401s are this test's point, nothing else may fail.
UNAUTHORIZED = "the server responded with a status of 401"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home = tmp_path_factory.mktemp("page-keys-server")
    keys = home / "keys"
    keys.write_text(key_line("browser", KEY) + "\n")
    yield from serve(home, DOCSUM_AUTH="keys", DOCSUM_API_KEYS_FILE=str(keys))


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    elsewhere: list[str] = []
    context.route("**/*", lambda route: keep_local(route, server.url, elsewhere))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: message.type == "error" and UNAUTHORIZED not in message.text and errors.append(message.text),
    )
    page.on("requestfailed", lambda request: errors.append(f"{request.url}: {request.failure}"))
    yield page
    page.wait_for_load_state("networkidle")  # closing with a call in flight would fail it
    context.close()
    assert not elsewhere, elsewhere
    assert not errors, errors


def test_the_page_asks_for_the_key_then_summarizes_and_downloads_with_it(
    page: Page, server: Server, tmp_path: Path
) -> None:
    calls: list[Request] = []
    page.on("request", lambda request: "/v1/" in request.url and calls.append(request))
    page.goto(server.url + "/")
    page.wait_for_selector("#key-note.error:has-text('needs an API key')")
    assert page.evaluate("document.activeElement.id") == "api-key"
    assert page.locator("#model option").count() == 0

    page.fill("#api-key", "dsk_not-a-key")
    page.click("#key-use")
    page.wait_for_selector("#key-note.error:has-text('key was refused')")
    assert page.evaluate("document.activeElement.id") == "api-key"

    page.fill("#api-key", KEY)
    page.click("#key-use")
    models_listed(page)  # the models list came again, with the key
    assert "error" not in (page.get_attribute("#key-note", "class") or "")
    assert page.evaluate("sessionStorage.getItem('docsum.apiKey')") == KEY
    assert page.evaluate("localStorage.length") == 0

    page.fill("#text", NEWS_ARTICLE)
    page.click("#run")
    page.wait_for_selector("#summary .sent")
    assert page.inner_text("#status").startswith("Done")

    documents = [{"id": f"doc-{i}", "text": NEWS_ARTICLE} for i in range(2)]
    upload = tmp_path / "documents.jsonl"
    upload.write_text("".join(json.dumps(document) + "\n" for document in documents))
    page.click("#nav-jobs")
    page.set_input_files("#job-files", str(upload))
    job = submit_job(page)
    job.and_(page.locator("[data-status=succeeded]")).wait_for()
    with page.expect_download() as download:
        job.get_by_text("Download results").click()
    job_id = job.get_attribute("data-id")
    assert download.value.suggested_filename == f"{job_id}.jsonl"
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [line["id"] for line in lines] == ["doc-0", "doc-1"]
    assert all(line["summary"] for line in lines)

    after_key = [call for call in calls if call.headers.get("x-api-key") == KEY]
    assert {call.method for call in after_key} >= {"GET", "POST"}
    assert any(call.url.endswith("/results") for call in after_key)  # the download went with the key
    assert not [call.url for call in calls if KEY in call.url]

    page.wait_for_load_state("networkidle")
    page.reload()  # the same tab keeps the key
    models_listed(page)
    assert page.input_value("#api-key") == KEY
    page.click("#key-forget")
    assert page.evaluate("sessionStorage.length") == 0
    assert page.input_value("#api-key") == ""
    page.wait_for_selector("#key-note.error:has-text('needs an API key')")


def models_listed(page: Page) -> None:
    page.locator("#model option").first.wait_for(state="attached")  # options are never "visible" to Playwright
