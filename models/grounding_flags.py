"""Which unmatched words of a summary sentence to name as unsupported, and as what.

A summary word whose key (``models.grounding_tokens``) is nowhere in the source is a
candidate. Listed are the ones a reader can check and a model invents: numbers,
dates, names and quoted words. Names are told by capitals, so only in a summary
written in mixed case. In a summary written all in lower case (as XSum's are), names
cannot be told from other words: every unmatched content word that does not look
like a rewording (an inflected verb, a near-miss of a source word) is listed, as
``word``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from models.grounding_result import Span
from models.grounding_tokens import FUNCTION, NUMBER, Token, is_date

NAME = "name"
NUMBER_SPAN = "number"
DATE = "date"
QUOTE = "quote"
WORD_SPAN = "word"

# Quotations: “…”, "…", PTB ``…'', and single quotes that are not apostrophes (‘…’, `…', '…').
_QUOTED = re.compile(
    r"“[^”]*”|\"[^\"]*\"|``.*?''"
    r"|(?<!\w)[‘`'](?!(?:s|re|ve|ll|d|m|t)\b)[^‘’`'\n]+?[’'](?!\w)"
)
# Between two flagged words of one span: spaces, hyphens, periods of initials ("J. R.").
_JOINER = re.compile(r"[\s\-.]*")


def is_cased(sentences: Sequence[list[Token]]) -> bool:
    """Whether capitals carry information: some word past the first of its sentence has one."""
    return any(t.capitalized for tokens in sentences for t in tokens[1:])


def quoted_ranges(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _QUOTED.finditer(text)]


def unsupported_spans(
    summary: str,
    tokens: list[Token],
    source_keys: set[str],
    *,
    cased: bool,
    quotes: Sequence[tuple[int, int]],
    is_paraphrase: Callable[[Token], bool],
) -> tuple[Span, ...]:
    """The unmatched names, numbers, dates and quoted words of one sentence, adjacent ones joined."""
    flagged: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens):
        if token.kind == FUNCTION or token.key in source_keys:
            continue
        kind = _kind(summary, tokens, index, cased, quotes, is_paraphrase)
        if kind is not None:
            flagged.append((token.start, token.end, kind))
    return tuple(Span(summary[start:end], start, end - start, kind) for start, end, kind in _joined(summary, flagged))


def _kind(
    summary: str,
    tokens: list[Token],
    index: int,
    cased: bool,
    quotes: Sequence[tuple[int, int]],
    is_paraphrase: Callable[[Token], bool],
) -> str | None:
    token = tokens[index]
    surface = summary[token.start : token.end]
    if token.kind == NUMBER:
        return None if surface.lower() == "one" else NUMBER_SPAN  # "one of them": a pronoun
    if is_date(token.key):
        return DATE
    if cased and _is_name(surface, tokens, index):
        return NAME
    if any(start <= token.start and token.end <= end for start, end in quotes):
        return QUOTE
    if not cased and not is_paraphrase(token):
        return WORD_SPAN
    return None


def _is_name(surface: str, tokens: list[Token], index: int) -> bool:
    """Capitalized past the sentence start, an acronym, or the first word of a capitalized run."""
    if not tokens[index].capitalized:
        return False
    if index > 0 or (len(surface) > 1 and surface.isupper()):
        return True
    return len(tokens) > 1 and tokens[1].capitalized and tokens[1].kind != FUNCTION


def _joined(summary: str, flagged: list[tuple[int, int, str]]) -> list[tuple[int, int, str]]:
    """Flagged words of one kind separated only by spaces or hyphens form one span ("Alexander Lavrentyev")."""
    out: list[tuple[int, int, str]] = []
    for start, end, kind in flagged:
        if out and out[-1][2] == kind and _JOINER.fullmatch(summary, out[-1][1], start):
            out[-1] = (out[-1][0], end, kind)
        else:
            out.append((start, end, kind))
    return out
