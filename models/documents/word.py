"""DOCX through python-docx (MIT, maintained): paragraphs, headings, lists and tables in document order.

The archive is checked before python-docx opens it: a DOCX is a zip, and a zip bomb (a few
kilobytes that unpack to gigabytes) is refused by its declared sizes, which bound what
``zipfile`` will unpack (it stops at a member's declared size).
"""

from __future__ import annotations

import io
import zipfile

import docx
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from models.documents.builder import TextBuilder
from models.documents.errors import ArchiveTooLarge, CorruptDocument
from models.documents.types import ExtractedDocument, ExtractLimits

# A member this small is never a bomb, whatever its ratio (XML of repeated markup compresses well).
_SMALL_MEMBER = 1024 * 1024
_MAX_MEMBERS = 10_000


def check_archive(archive: zipfile.ZipFile, limits: ExtractLimits) -> None:
    """Refuse a zip that would unpack past the limits, before anything is unpacked."""
    members = archive.infolist()
    if len(members) > _MAX_MEMBERS:
        raise ArchiveTooLarge(f"the archive holds {len(members)} files; the limit is {_MAX_MEMBERS}", param="file")
    total = sum(member.file_size for member in members)
    if total > limits.max_unpacked_bytes:
        raise ArchiveTooLarge(
            f"the archive would unpack to {total} bytes; the limit is {limits.max_unpacked_bytes}", param="file"
        )
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > _SMALL_MEMBER and ratio > limits.max_ratio:
            raise ArchiveTooLarge(
                f"{member.filename} would unpack {ratio:.0f} times its size (a zip bomb?); "
                f"the limit is {limits.max_ratio}",
                param="file",
            )


def extract_docx(data: bytes, limits: ExtractLimits) -> ExtractedDocument:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            check_archive(archive, limits)
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, PackageNotFoundError, KeyError, ValueError) as exc:
        raise CorruptDocument(f"the DOCX cannot be read: {exc}", param="file") from None
    builder = TextBuilder(limits.max_chars)
    heading: str | None = None
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            kind = _kind(block)
            builder.add(kind, ("- " if kind == "item" else "") + block.text)
            if kind == "heading" and heading is None and block.text.strip():
                heading = block.text.strip()
        elif isinstance(block, Table):
            _add_table(block, builder)
    title = (document.core_properties.title or "").strip() or heading
    return ExtractedDocument(builder.text(), "docx", title, None, tuple(builder.blocks))


def _kind(paragraph: Paragraph) -> str:
    style = (paragraph.style.name if paragraph.style is not None else "") or ""
    if style.startswith("Heading") or style == "Title":
        return "heading"
    properties = paragraph._p.pPr
    if style.startswith("List") or (properties is not None and properties.numPr is not None):
        return "item"
    return "paragraph"


def _add_table(table: Table, builder: TextBuilder) -> None:
    for row in table.rows:
        cells: list[str] = []
        seen: set[int] = set()
        for cell in row.cells:  # a merged cell appears once per grid column it spans
            if id(cell._tc) not in seen:
                seen.add(id(cell._tc))
                cells.append(" ".join(cell.text.split()))
        builder.add("row", " | ".join(cells))
