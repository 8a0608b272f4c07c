"""The README stays true: its first commands, and every setting documented."""

from __future__ import annotations

import re
from pathlib import Path

from service.errors import DOCUMENT_ERROR_CODES, ERROR_CODES, PROBLEM_CODES
from service.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:6])
    assert "make serve" in head and "make test" in head


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`DOCSUM_{name.upper()}`" in README, name


def _paragraph(starting: str) -> str:
    start = README.index(starting)
    return README[start : README.index("\n\n", start)]


def test_the_error_codes_listed_are_the_code_table() -> None:
    listed: dict[str, int] = {}
    for codes, status in re.findall(r"((?:`[a-z_]+`,?\s*)+)\((\d{3})", _paragraph("Codes (status):")):
        listed.update((code, int(status)) for code in re.findall(r"`([a-z_]+)`", codes))
    assert listed == ERROR_CODES


def test_the_codes_of_failed_documents_and_job_problems_are_listed() -> None:
    documents = _paragraph("Inside a batch, a failed document gets")
    assert re.findall(r"`([a-z_]+)`", documents.split("}}`:", 1)[1]) == list(DOCUMENT_ERROR_CODES)
    problems = _paragraph("- **All or nothing.**")
    listed = problems.split("a code:", 1)[1].split(".", 1)[0]
    assert re.findall(r"`([a-z_]+)`", listed) == list(PROBLEM_CODES)
