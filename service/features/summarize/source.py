"""Where a summary's text came from: the text sent, or an uploaded file, and what a response says of it
(``text`` with ``include_text``; ``document`` and each range's ``pages`` for a file)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from models.documents import ExtractedDocument


class PageOut(BaseModel):
    page: int = Field(description="The page number, from 1.")
    offset: int = Field(description="Where the page starts in `text`, in characters.")
    length: int = Field(description="Its length in characters: the page is text[offset:offset + length].")


class DocumentOut(BaseModel):
    name: str | None = Field(description="The uploaded file's name.")
    type: Literal["pdf", "docx", "html", "markdown", "text", "email"] = Field(description="What it was read as.")
    title: str | None = Field(description="Its title: PDF or DOCX metadata, HTML <title>, e-mail subject.")
    characters: int = Field(description="Characters of its extracted text.")
    pages: list[PageOut] | None = Field(description="A PDF's pages as ranges of `text`; null for other types.")


@dataclass(frozen=True, slots=True)
class Source:
    """The text a summary was made of; ``document`` when it was extracted from the file ``name``."""

    text: str
    include_text: bool = False
    document: ExtractedDocument | None = None
    name: str | None = None

    def document_out(self) -> DocumentOut | None:
        document = self.document
        if document is None:
            return None
        pages = None
        if document.pages is not None:
            pages = [PageOut(page=p.page, offset=p.offset, length=p.length) for p in document.pages]
        return DocumentOut(
            name=self.name, type=document.kind, title=document.title, characters=len(document.text), pages=pages
        )
