"""What extraction gives: the text every offset points into, its kind, title and page map."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

DocumentKind = Literal["pdf", "docx", "html", "markdown", "text", "email"]


@dataclass(frozen=True, slots=True)
class ExtractLimits:
    """Bounds on one file's work. ``max_chars`` stops extraction as soon as the text passes it."""

    max_chars: int = 200_000
    max_pages: int = 500
    max_unpacked_bytes: int = 100 * 1024 * 1024
    max_ratio: int = 100


@dataclass(frozen=True, slots=True)
class PageSpan:
    """Page ``page`` (from 1) is ``text[offset:offset + length]``."""

    page: int
    offset: int
    length: int


@dataclass(frozen=True, slots=True)
class ExtractedDocument:
    text: str
    kind: DocumentKind
    title: str | None = None
    pages: tuple[PageSpan, ...] | None = None  # PDFs only
    # Blocks as (kind, offset, length): "heading", "paragraph", "item", "row"; structure a client may show.
    blocks: tuple[tuple[str, int, int], ...] = field(default=())

    def pages_of(self, offset: int, length: int) -> list[int] | None:
        """The pages (from 1) the range ``text[offset:offset + length]`` touches; None without a page map."""
        if self.pages is None:
            return None
        end = offset + max(length, 1)
        found = [p.page for p in self.pages if p.offset < end and offset < p.offset + max(p.length, 1)]
        if not found:  # a range in the gap between two pages belongs to the page before it
            before = [p.page for p in self.pages if p.offset <= offset]
            found = before[-1:] or [self.pages[0].page]
        return found
