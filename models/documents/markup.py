"""Markdown (and the Markdown trafilatura makes of HTML) as plain text with its structure.

markdown-it-py (MIT, the CommonMark reference port) parses; the text keeps headings and
paragraphs as blocks, list items as ``- `` lines (``1. `` when ordered), table rows as cells
joined by `` | ``, code as it is; inline markup (emphasis, links, images) leaves its text only.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

from models.documents.builder import TextBuilder

_PARSER = MarkdownIt("commonmark").enable("table")


def add_markdown(source: str, builder: TextBuilder) -> str | None:
    """Append ``source``'s blocks; return its first heading (a title), if any."""
    reader = _Reader(builder)
    for token in _PARSER.parse(source):
        reader.take(token)
    return reader.title


class _Reader:
    """Markdown tokens to blocks: what is open (lists, a heading, a table row) decides what an inline is."""

    def __init__(self, builder: TextBuilder) -> None:
        self.builder = builder
        self.title: str | None = None
        self.lists: list[list[int]] = []  # per open list: [next number] (ordered) or [] (bullets)
        self.row: list[str] | None = None
        self.heading = False

    def take(self, token: Token) -> None:
        kind = token.type
        if kind == "bullet_list_open":
            self.lists.append([])
        elif kind == "ordered_list_open":
            self.lists.append([int(token.attrs.get("start", 1) or 1)])
        elif kind in ("bullet_list_close", "ordered_list_close"):
            self.lists.pop()
        elif kind in ("heading_open", "heading_close"):
            self.heading = kind == "heading_open"
        elif kind == "tr_open":
            self.row = []
        elif kind == "tr_close" and self.row is not None:
            self.builder.add("row", " | ".join(self.row))
            self.row = None
        elif kind == "inline":
            self._inline(_inline(token))
        elif kind in ("fence", "code_block"):
            self.builder.add("paragraph", token.content)

    def _inline(self, text: str) -> None:
        if self.row is not None:
            self.row.append(text.replace("\n", " "))
        elif self.heading:
            self.title = self.title or text
            self.builder.add("heading", text)
        elif self.lists:
            self.builder.add("item", _marker(self.lists[-1], len(self.lists)) + text)
        else:
            self.builder.add("paragraph", text)


def _marker(numbering: list[int], depth: int) -> str:
    indent = "  " * (depth - 1)
    if not numbering:
        return f"{indent}- "
    numbering[0] += 1
    return f"{indent}{numbering[0] - 1}. "


def _inline(token: Token) -> str:
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(child.content)
    return "".join(parts)
