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
    tokens = _PARSER.parse(source)
    title: str | None = None
    lists: list[list[int]] = []  # per open list: [next number] (ordered) or [] (bullets)
    row: list[str] | None = None
    kind = "paragraph"
    for token in tokens:
        if token.type == "bullet_list_open":
            lists.append([])
        elif token.type == "ordered_list_open":
            lists.append([int(token.attrs.get("start", 1) or 1)])
        elif token.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif token.type == "heading_open":
            kind = "heading"
        elif token.type in ("heading_close", "paragraph_close"):
            kind = "paragraph"
        elif token.type == "tr_open":
            row = []
        elif token.type == "tr_close" and row is not None:
            builder.add("row", " | ".join(row))
            row = None
        elif token.type == "inline":
            text = _inline(token)
            if row is not None:
                row.append(text.replace("\n", " "))
            elif kind == "heading":
                title = title or text
                builder.add("heading", text)
            elif lists:
                builder.add("item", _marker(lists[-1], len(lists)) + text)
            else:
                builder.add("paragraph", text)
        elif token.type in ("fence", "code_block"):
            builder.add("paragraph", token.content)
    return title


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
