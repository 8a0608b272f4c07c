"""A headless Chromium for the page's tests, driven by Playwright, and a real `docsum serve` for it to call.

Playwright cannot download its own browser here, so it drives Debian's ``chromium`` (apt-get install
chromium; ``.ci/run`` does this). DOCSUM_TEST_CHROMIUM names another binary. Where none is installed the
browser tests skip, and say so loudly; where ``DOCSUM_TEST_REQUIRE_BROWSER`` is set (CI) they fail instead."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.service.features.jobs.test_durability import Server

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

ROOT = Path(__file__).resolve().parents[4]
# The tests' screenshots go to a temporary folder, so a test run leaves the checkout clean;
# DOCSUM_TEST_SCREENSHOTS=docs/screenshots refreshes the README's (read at import, as below).
SCREENSHOTS = Path(os.environ.get("DOCSUM_TEST_SCREENSHOTS") or Path(tempfile.gettempdir()) / "docsum-screenshots")
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
# Nothing but the server: no updates, no safe-browsing, no field trials fetched in the background.
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-component-update", "--no-first-run"]
# Read at import: the autouse fixture in tests/conftest.py clears DOCSUM_* variables before each test.
NAMED_CHROMIUM = os.environ.get("DOCSUM_TEST_CHROMIUM")
REQUIRE_BROWSER = bool(os.environ.get("DOCSUM_TEST_REQUIRE_BROWSER"))


def chromium_path() -> str | None:
    if NAMED_CHROMIUM:
        return NAMED_CHROMIUM
    for name in ("chromium", "chromium-browser"):
        if found := shutil.which(name):
            return found
    return None


def require_chromium() -> str:
    path = chromium_path()
    if path is not None:
        return path
    message = "Chromium is not installed: apt-get install chromium (or set DOCSUM_TEST_CHROMIUM); .ci/run does this"
    if REQUIRE_BROWSER:
        pytest.fail(message + " (DOCSUM_TEST_REQUIRE_BROWSER is set: the browser tests must run)")
    pytest.skip(message)


def serve(home: Path, **settings: str) -> Iterator[Server]:
    """A real ``docsum serve`` for the page's tests, with its data under ``home`` and these DOCSUM_* settings."""
    env = {"PYTHONPATH": str(ROOT), "DOCSUM_DATA_DIR": str(home / "data"), "DOCSUM_LOG_LEVEL": "warning", **settings}
    server = Server(env, home / "server.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()


def launch(path: str) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def submit_job(page: Page) -> Locator:
    """Submit the jobs view's form; the new job's entry in the list (earlier jobs stay listed too)."""
    page.click("#job-submit")
    page.wait_for_selector("#job-status:has-text('started')")
    job_id = re.search(r"Job (\w+) started", page.inner_text("#job-status"))
    assert job_id is not None, page.inner_text("#job-status")
    return page.locator(f"#jobs li.job[data-id='{job_id.group(1)}']")
