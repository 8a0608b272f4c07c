"""The page in a real browser (headless Chromium) against a real `docsum serve`: paste an article and trace
a summary sentence to its source, upload a PDF, run a job to the end.
Screenshots go to a temporary folder (DOCSUM_TEST_SCREENSHOTS=docs/screenshots: the README's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import NEWS_ARTICLE
from tests.service.features.jobs.test_durability import Server
from tests.service.features.page.browser import SCREENSHOTS, serve, submit_job

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

# Starts a server process and a browser.
pytestmark = pytest.mark.slow

TIMEOUT_MS = 60_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # the default model: extractive, no weights to load
    yield from serve(tmp_path_factory.mktemp("page-server"))


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    elsewhere: list[str] = []  # requests to any other host: the page and the docs must need none
    context.route("**/*", lambda route: keep_local(route, server.url, elsewhere))
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: message.type == "error" and not redoc_logo(message.text) and errors.append(message.text),
    )
    page.on(
        "requestfailed",
        lambda request: not redoc_logo(request.url) and errors.append(f"{request.url}: {request.failure}"),
    )
    page.goto(server.url + "/")
    page.wait_for_load_state("networkidle")  # the models and jobs lists came: leaving now aborts nothing
    yield page
    context.close()
    assert not elsewhere, elsewhere
    assert not errors, errors  # no script error, no failed request, anywhere in the test


def redoc_logo(message: str) -> bool:
    """The one refusal expected: ReDoc's logo from its CDN, kept out by /redoc's Content-Security-Policy."""
    return "https://cdn.redoc.ly/redoc/logo-mini.svg" in message


def keep_local(route: Route, base: str, elsewhere: list[str]) -> None:
    url = route.request.url
    if url.startswith((base + "/", "data:", "blob:")):
        route.continue_()
    else:
        elsewhere.append(url)
        route.abort()


def downloaded_json(page: Page, button: str) -> dict[str, object]:
    with page.expect_download() as download:
        page.click(button)
    path = download.value.path()
    answer: dict[str, object] = json.loads(Path(path).read_text())
    return answer


def test_a_pasted_article_is_summarized_and_each_sentence_leads_to_its_source(page: Page) -> None:
    page.fill("#text", NEWS_ARTICLE)
    page.select_option("#length", "medium")
    page.click("#run")
    page.wait_for_selector("#summary .sent")
    assert page.inner_text("#status").startswith("Done")
    response = downloaded_json(page, "#download-json")
    sentences = response["sentences"]
    assert isinstance(sentences, list) and len(sentences) >= 2
    spans = page.locator("#summary .sent")
    assert spans.count() == len(sentences)

    for index in (0, 1):
        spans.nth(index).click()
        marks = page.locator("#source mark.hl")
        assert marks.count() == 1
        expected = sentences[index]
        offset, length = int(marks.get_attribute("data-offset") or -1), int(marks.get_attribute("data-length") or -1)
        assert (offset, length) == (expected["offset"], expected["length"])
        assert marks.inner_text() == NEWS_ARTICLE[offset : offset + length] == expected["text"]
        assert spans.nth(index).get_attribute("aria-pressed") == "true"
    assert page.inner_text("#source") == NEWS_ARTICLE  # marking changed no character of the source

    page.keyboard.press("Shift+Tab")  # from the second sentence back to the first: focus alone highlights
    assert page.evaluate("document.activeElement.dataset.index") == "0"
    assert page.locator("#source mark.hl").get_attribute("data-offset") == str(sentences[0]["offset"])
    page.mouse.move(0, 0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "page.png"), full_page=True)


def test_on_a_narrow_screen_the_source_comes_below_the_summary(page: Page) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    page.fill("#text", NEWS_ARTICLE)
    page.click("#run")
    page.wait_for_selector("#summary .sent")
    summary, source = page.locator("#summary").bounding_box(), page.locator("#source").bounding_box()
    assert summary is not None and source is not None
    assert source["y"] > summary["y"] + summary["height"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing wider than the screen


def test_every_control_has_a_label(page: Page) -> None:
    unlabelled = page.evaluate(
        """[...document.querySelectorAll("input, select, textarea, button")]
           .filter((control) => !(control.labels && control.labels.length) && !control.getAttribute("aria-label")
                                && !control.textContent.trim())
           .map((control) => control.id || control.outerHTML)"""
    )
    assert unlabelled == []


def test_the_api_docs_render_with_nothing_from_another_host(page: Page, server: Server) -> None:
    page.goto(server.url + "/docs")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "docsum" in page.inner_text(".swagger-ui .info .title")
    page.get_by_text("/v1/summarize", exact=True).first.wait_for()
    page.wait_for_load_state("networkidle")  # leaving with a request in flight would fail it
    page.goto(server.url + "/redoc")
    page.get_by_text("/v1/summarize", exact=True).first.wait_for()


def test_copy_and_text_download_give_the_summary(page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.fill("#text", NEWS_ARTICLE)
    page.click("#run")
    page.wait_for_selector("#summary .sent")
    summary = page.inner_text("#summary")
    page.click("#copy")
    assert page.evaluate("navigator.clipboard.readText()") == summary
    with page.expect_download() as download:
        page.click("#download-text")
    assert Path(download.value.path()).read_text() == summary + "\n"


def test_errors_are_shown_not_thrown(page: Page) -> None:
    page.click("#run")
    assert "Paste a document" in page.inner_text("#status")
    page.fill("#text", "   ")
    page.fill("#query", "bridge")
    page.click("#run")
    page.wait_for_selector("#status.error")


def test_a_jsonl_job_runs_to_completion_and_its_results_download(page: Page, tmp_path: Path) -> None:
    documents = [{"id": f"doc-{i}", "text": NEWS_ARTICLE} for i in range(3)]
    upload = tmp_path / "documents.jsonl"
    upload.write_text("".join(json.dumps(document) + "\n" for document in documents))
    page.click("#nav-jobs")
    page.set_input_files("#job-files", str(upload))
    job = submit_job(page)
    job.and_(page.locator("[data-status=succeeded]")).wait_for()
    assert "3 of 3 documents" in job.inner_text()
    with page.expect_download() as download:
        job.get_by_text("Download results").click()
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [line["id"] for line in lines] == ["doc-0", "doc-1", "doc-2"]
    assert all(line["summary"] for line in lines)
    page.screenshot(path=str(SCREENSHOTS / "jobs.png"), full_page=True)


def test_a_pdf_is_read_and_its_sentences_lead_to_their_page(page: Page, tmp_path: Path) -> None:
    # The PDF builder and the upload arrive with the document-inputs branch of issue 21.
    document_files = pytest.importorskip("tests.document_files", reason="needs document inputs (issue 21)")
    report = tmp_path / "report.pdf"
    report.write_bytes(document_files.make_pdf())
    page.set_input_files("#file", str(report))
    assert page.locator("#text").is_disabled()
    page.select_option("#length", "long")
    page.click("#run")
    page.wait_for_selector("#summary .sent")
    response = downloaded_json(page, "#download-json")
    text, sentences = response["text"], response["sentences"]
    assert isinstance(text, str) and isinstance(sentences, list)
    assert page.inner_text("#source") == text
    assert "Annual Report" in text and "Work on the bridge starts in the spring." in text
    for index, sentence in enumerate(sentences):
        page.locator("#summary .sent").nth(index).click()
        mark = page.locator("#source mark.hl")
        assert (mark.get_attribute("data-offset"), mark.get_attribute("data-length")) == (
            str(sentence["offset"]),
            str(sentence["length"]),
        )
        assert mark.inner_text() == text[sentence["offset"] : sentence["offset"] + sentence["length"]]
        pages = sentence["pages"]
        assert (f"page {pages[0]}" if len(pages) == 1 else f"pages {pages[0]}–{pages[-1]}") in page.inner_text(
            "#source-where"
        )
    page.screenshot(path=str(SCREENSHOTS / "pdf.png"), full_page=True)


def test_a_job_of_several_documents_is_keyed_by_their_file_names(page: Page, tmp_path: Path) -> None:
    document_files = pytest.importorskip("tests.document_files", reason="needs document inputs (issue 21)")
    (tmp_path / "report.pdf").write_bytes(document_files.make_pdf())
    (tmp_path / "article.md").write_text("# Bridge\n\n" + NEWS_ARTICLE + "\n")
    page.click("#nav-jobs")
    page.set_input_files("#job-files", [str(tmp_path / "report.pdf"), str(tmp_path / "article.md")])
    job = submit_job(page)
    job.and_(page.locator("[data-status=succeeded]")).wait_for()
    assert "2 of 2 documents" in job.inner_text()
    with page.expect_download() as download:
        job.get_by_text("Download results").click()
    lines = [json.loads(line) for line in Path(download.value.path()).read_text().splitlines()]
    assert [line["id"] for line in lines] == ["report.pdf", "article.md"]
    assert "bridge" in lines[0]["summary"] and "bridge" in lines[1]["summary"]
