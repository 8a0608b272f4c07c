"""What grounding finds, as data: each summary sentence, its evidence in the source, and its unsupported words.

Apart from ``models.grounding`` (which computes it) so that ``models.types`` can name
``Grounding`` in a ``Summary`` without importing the computation (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Span:
    """Unsupported words of a summary sentence: ``summary[offset:offset + length] == text``."""

    text: str
    offset: int
    length: int
    kind: str  # "name", "number", "date", "quote" or "word"


@dataclass(frozen=True, slots=True)
class Evidence:
    """A range of the source that supports a summary sentence: ``source[offset:offset + length]``."""

    offset: int
    length: int
    score: float  # share of the sentence's content words (weighted by rarity) found in the range


@dataclass(frozen=True, slots=True)
class GroundedSentence:
    """A summary sentence (``summary[offset:offset + length] == text``) and what supports it."""

    text: str
    offset: int
    length: int
    support: tuple[Evidence, ...]
    supported: float
    unsupported: tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Grounding:
    """A summary checked against its source: ``consistency`` is the mean ``supported`` of its sentences."""

    consistency: float
    sentences: tuple[GroundedSentence, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of the API: offsets into the source (``support``) and the summary (the rest)."""
        return {
            "consistency": self.consistency,
            "sentences": [
                {
                    "text": s.text,
                    "offset": s.offset,
                    "length": s.length,
                    "support": [{"offset": e.offset, "length": e.length, "score": e.score} for e in s.support],
                    "supported": s.supported,
                    "unsupported": [
                        {"text": u.text, "offset": u.offset, "length": u.length, "kind": u.kind} for u in s.unsupported
                    ],
                }
                for s in self.sentences
            ],
        }
