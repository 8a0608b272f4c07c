"""Text with its structure kept: blocks joined by a blank line, list items and table rows by a line break."""

from __future__ import annotations

from models.documents.errors import DocumentTooLarge

# Consecutive blocks of these kinds stay on adjacent lines (a list, a table); others get a blank line between.
_TIGHT = frozenset({"item", "row"})


class TextBuilder:
    """Appends blocks in reading order; refuses to grow past ``max_chars`` (413 document_too_large)."""

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self._parts: list[str] = []
        self._size = 0
        self._last_kind: str | None = None
        self.blocks: list[tuple[str, int, int]] = []

    def add(self, kind: str, text: str) -> int | None:
        """A heading, paragraph, item (a list item, its marker included), row or page; blank text is
        skipped (None), else its offset is returned."""
        text = text.strip("\n").rstrip()
        if not text.strip():
            return None
        if self._parts:
            self._write("\n" if kind in _TIGHT and self._last_kind == kind else "\n\n")
        self.blocks.append((kind, self._size, len(text)))
        offset = self._size
        self._write(text)
        self._last_kind = kind
        return offset

    @property
    def size(self) -> int:
        return self._size

    def text(self) -> str:
        return "".join(self._parts)

    def _write(self, piece: str) -> None:
        self._size += len(piece)
        if self._size > self.max_chars:
            raise DocumentTooLarge(
                f"the extracted text has more than {self.max_chars} characters (the limit)", param="file"
            )
        self._parts.append(piece)
