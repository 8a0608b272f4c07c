"""``docsum batch DIR``: a folder of document files, one output line per file keyed by its path; --resume."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from service.cli import app
from tests.document_files import ARTICLE_HTML, make_docx, make_email, make_pdf


def _folder(root: Path) -> Path:
    folder = root / "in"
    (folder / "web").mkdir(parents=True)
    (folder / "report.pdf").write_bytes(make_pdf())
    (folder / "memo.docx").write_bytes(make_docx())
    (folder / "web" / "page.html").write_text(ARTICLE_HTML)
    (folder / "minutes.eml").write_bytes(make_email())
    (folder / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)
    (folder / ".hidden").write_text("left out")
    return folder


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_folder_gives_one_line_per_file_keyed_by_its_path(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    result = CliRunner().invoke(app, ["batch", str(_folder(tmp_path)), "-o", str(out), "--sentences", "1"])
    assert result.exit_code == 1, result.output  # the image failed
    lines = _lines(out)
    assert [line["id"] for line in lines] == ["memo.docx", "minutes.eml", "photo.png", "report.pdf", "web/page.html"]
    assert lines[2]["error"] == {
        "code": "unsupported_file_type",
        "message": "the file is a PNG image; docsum reads PDF, DOCX, HTML, Markdown, plain text and e-mail (.eml)",
    }
    assert all("summary" in line for at, line in enumerate(lines) if at != 2)
    assert "4 written" not in result.output and "5 written, 1 failed" in result.output


def test_resume_carries_on_a_folder(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "out.jsonl"
    CliRunner().invoke(app, ["batch", str(folder), "-o", str(out)])
    first_two = out.read_text().splitlines(keepends=True)[:2]
    out.write_text("".join(first_two))
    result = CliRunner().invoke(app, ["batch", str(folder), "-o", str(out), "--resume"])
    assert "3 written, 1 failed, 2 already done" in result.output
    assert sorted(str(line["id"]) for line in _lines(out)) == [
        "memo.docx",
        "minutes.eml",
        "photo.png",
        "report.pdf",
        "web/page.html",
    ]
