"""The page with a model that writes (a tiny random BART): progress while a long input is summarized in parts,
details the source lacks marked in the summary, and each part's range of the source on demand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import NEWS_ARTICLE
from tests.service.features.jobs.test_durability import Server
from tests.service.features.page.browser import serve, submit_job

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Starts a server process and a browser.
pytestmark = pytest.mark.slow

# Every text the page's progress label shows (callbacks come in batches: each record keeps its text).
_WATCH_PROGRESS = """
window.progressSeen = [];
new MutationObserver((records) => {
  for (const record of records) for (const node of record.addedNodes) window.progressSeen.push(node.data);
}).observe(document.getElementById("progress-label"), {childList: true});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_bart_dir: Path) -> Iterator[Server]:
    # a 64-token window: the article takes ten parts
    yield from serve(tmp_path_factory.mktemp("page-model-server"), DOCSUM_MODELS=f"tiny={tiny_bart_dir}")


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(120_000)
    page.goto(server.url + "/")
    yield page
    context.close()


def test_a_long_input_shows_progress_marks_what_the_source_lacks_and_maps_each_part(page: Page) -> None:
    page.wait_for_selector("#model option[value=tiny]", state="attached")
    assert page.locator("#query").is_enabled()  # the default model, extractive, takes a query
    page.select_option("#model", "tiny")
    assert page.locator("#query").is_disabled()  # a seq2seq model refuses one
    page.fill("#text", NEWS_ARTICLE)
    page.evaluate(_WATCH_PROGRESS)
    page.click("#run")
    page.wait_for_selector("#summary .sent")
    with page.expect_download() as download:
        page.click("#download-json")
    response = json.loads(Path(download.value.path()).read_text())

    chunks = response["chunks"]
    assert len(chunks) > 1
    seen = page.evaluate("window.progressSeen")
    assert f"Part 1 of {len(chunks)}" in seen and f"Part {len(chunks)} of {len(chunks)}" in seen

    grounding = response["grounding"]
    gaps = [gap["text"] for sentence in grounding["sentences"] for gap in sentence["unsupported"]]
    assert gaps  # a random model's words are nowhere in the source
    assert page.locator("#summary mark.unsupported").all_inner_texts() == gaps
    assert page.locator("#summary .sent").count() == len(grounding["sentences"])
    assert "Supported by the source" in page.inner_text("#grounding-note")

    page.click("#chunks-box > summary")
    page.locator("#chunks button").nth(1).click()
    mark = page.locator("#source mark.hl")
    assert (mark.get_attribute("data-offset"), mark.get_attribute("data-length")) == (
        str(chunks[1]["offset"]),
        str(chunks[1]["length"]),
    )
    assert mark.inner_text() == NEWS_ARTICLE[chunks[1]["offset"] : chunks[1]["offset"] + chunks[1]["length"]]


def test_a_running_job_is_cancelled_from_the_jobs_view(page: Page, tmp_path: Path) -> None:
    upload = tmp_path / "many.jsonl"  # forty articles of ten parts each: seconds of work for the tiny model
    upload.write_text("".join(json.dumps({"id": f"doc-{i}", "text": NEWS_ARTICLE}) + "\n" for i in range(40)))
    page.click("#nav-jobs")
    page.wait_for_selector("#job-model option[value=tiny]", state="attached")
    page.select_option("#job-model", "tiny")
    page.set_input_files("#job-files", str(upload))
    job = submit_job(page)
    job.get_by_role("button", name="Cancel").click()
    job.and_(page.locator("[data-status=cancelled]")).wait_for()
    assert "of 40 documents" in job.inner_text()
    assert job.get_by_role("button", name="Cancel").count() == 0
    assert job.get_by_text("Download results").count() == 1  # what finished before the cancel stays readable
