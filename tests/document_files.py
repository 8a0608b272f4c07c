"""Document files built at run time for the tests: PDF (written by hand), DOCX, HTML, e-mail.

No fixture file is checked in: each builder returns the bytes of a small, valid file
(or a deliberately broken one) so a test says exactly what it feeds the extractors.
"""

from __future__ import annotations

import io
import zipfile
from email.message import EmailMessage

# A PDF page: (font size, text) lines from the top; text is ASCII (PDF literal strings, escaped here).
PdfPage = list[tuple[int, str]]

REPORT_PAGES: list[PdfPage] = [
    [
        (24, "Annual Report"),
        (12, "The council approved the new bridge on Tuesday."),
        (12, "It will cost forty million dollars and open in 2028."),
    ],
    [
        (12, "Critics wanted the money spent on schools instead."),
        (12, "Work on the bridge starts in the spring."),
    ],
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: PdfPage) -> bytes:
    ops = ["BT"]
    y = 740
    for size, text in lines:
        ops.append(f"/F1 {size} Tf 1 0 0 1 72 {y} Tm ({_escape(text)}) Tj")
        y -= size * 2
    ops.append("ET")
    return "\n".join(ops).encode("latin-1")


def make_pdf(
    pages: list[PdfPage] | None = None, *, title: str | None = "Annual Report", encrypt: bool = False
) -> bytes:
    """A minimal PDF 1.4 with Helvetica text; ``encrypt`` adds a standard security handler whose
    user password is not empty (its /U cannot match), so a reader needs a password."""
    pages = REPORT_PAGES if pages is None else pages
    count = len(pages)
    first_page = 4  # objects: 1 catalog, 2 pages, 3 font, then a page and its content per page
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for i, lines in enumerate(pages):
        content = _content(lines)
        page = f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {first_page + 2 * i + 1} 0 R "
        objects.append((page + "/Resources << /Font << /F1 3 0 R >> >> >>").encode())
        objects.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    trailer_extra = ""
    if title is not None:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode())
        trailer_extra += f" /Info {len(objects)} 0 R"
    if encrypt:
        garbage = "<" + "ab" * 32 + ">"
        objects.append(f"<< /Filter /Standard /V 1 /R 2 /O {garbage} /U {garbage} /P -44 >>".encode())
        trailer_extra += f" /Encrypt {len(objects)} 0 R /ID [<{'01' * 16}> <{'01' * 16}>]"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{trailer_extra} >>\n".encode())
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def make_docx() -> bytes:
    """A DOCX with a heading, paragraphs, a bulleted list and a table (python-docx)."""
    import docx

    document = docx.Document()
    document.core_properties.title = "Quarterly Memo"
    document.add_heading("Quarterly Memo", level=1)
    document.add_paragraph("Sales rose in every region this quarter.")
    document.add_paragraph("First item of the list", style="List Bullet")
    document.add_paragraph("Second item of the list", style="List Bullet")
    table = document.add_table(rows=2, cols=2)
    for row, cells in enumerate((("Region", "Sales"), ("North", "120"))):
        for col, value in enumerate(cells):
            table.cell(row, col).text = value
    document.add_paragraph("The board meets again in June.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_zip_bomb(unpacked: int = 200 * 1024 * 1024) -> bytes:
    """A DOCX-shaped zip whose document.xml unpacks to ``unpacked`` bytes of zeros (a tiny file)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1024 * 1024)
            for _ in range(unpacked // len(block)):
                member.write(block)
    return out.getvalue()


ARTICLE_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Bridge vote</title></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/news">News</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<header><p>Daily Gazette: subscribe now for unlimited access</p></header>
<main><article>
<h1>Council approves the bridge</h1>
<p>The city council voted on Tuesday to build a new bridge across the river, after a debate that lasted
most of the evening and drew a crowd of residents to the town hall.</p>
<p>The bridge will cost forty million dollars. Supporters said it would cut commuting times in half, while
critics argued that the money should have been spent on the schools of the eastern district.</p>
<h2>What happens next</h2>
<ul><li>Tenders open in January.</li><li>Work starts in the spring.</li></ul>
<p>The mayor said the first cars could cross the river within three years if the work goes to plan.</p>
</article></main>
<footer><p>Copyright Daily Gazette. All rights reserved. Privacy policy. Cookie settings.</p></footer>
</body></html>
"""


def make_email() -> bytes:
    """An e-mail with a subject, a plain-text body, a text attachment and a binary one."""
    message = EmailMessage()
    message["Subject"] = "Minutes of the bridge meeting"
    message["From"] = "clerk@example.org"
    message["To"] = "council@example.org"
    message.set_content("Dear members,\n\nThe council approved the bridge on Tuesday.\n\nRegards,\nThe clerk\n")
    message.add_attachment(
        "Budget notes: forty million dollars over three years.\n",
        subtype="plain",
        filename="notes.txt",
    )
    message.add_attachment(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, maintype="image", subtype="png", filename="map.png")
    return message.as_bytes()


MARKDOWN = """# Release notes

The new version is **faster** and uses less memory.

- Startup takes half the time.
- Reports export to PDF.

See [the docs](https://example.org/docs) for more.
"""
