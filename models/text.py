"""Sentences with exact character offsets, and rendering summaries.

The splitter is rule-based on purpose: it must be fast (thousands of documents a
minute on two cores), need no downloaded data (NLTK's punkt does), and return
offsets into the original string so callers can point back at the source.
It handles Latin-script punctuation with abbreviations and initials, CJK and
other scripts' full stops, PTB-tokenized text (``year . But``), lowercased
text, and line structure (headings, paragraphs, lists).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass

from models.types import SummaryFormat

# Full stops that end a sentence with no space after them (CJK, Devanagari, ...).
_SPACELESS_STOPS = "。！？｡।॥؟۔።"
_CLOSERS = "\"'”’»)]}」』】〕›"
_OPENERS = "\"'“‘«([{「『【〔‹`"

_CANDIDATE = re.compile(
    rf"(?P<stop>[.!?…]+|[{_SPACELESS_STOPS}]+)(?P<close>[{re.escape(_CLOSERS)}]*)"
    rf"|(?P<para>\n[ \t\r\f\v]*\n\s*)|(?P<line>\n)"
)
_PREV_WORD = re.compile(r"([\w.'-]+)\s*$")
_PTB_CLOSING_QUOTE = re.compile(r"[ \t]+(''|\")(?=\s|$)")
_LIST_MARKER = re.compile(r"[-*•‣◦–—]\s|\d{1,3}[.)]\s|[a-zA-Z][.)]\s")
_TERMINAL = tuple(".!?:;…") + tuple(_SPACELESS_STOPS)

# Words that a period follows without ending the sentence (compared lowercased,
# inner periods kept: "e.g", "u.s").
_ABBREVIATIONS = frozenset(
    """
    mr mrs ms mx dr prof sr jr st mt ft rev hon gov gen col lt sgt capt cmdr adm maj pres sen rep
    vs v etc e.g i.e cf al approx ca est dept univ assn bros inc ltd co corp llc plc
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thur thurs fri sat sun
    fig figs eq eqs ref refs vol vols pp ch sec no nos op ed eds
    u.s u.k u.n e.u a.m p.m ph.d m.d b.a m.a d.c l.a n.y
    """.split()
)
# Abbreviations that end a sentence only when what follows is not a number ("No. 5").
_NUMERIC_ABBREVIATIONS = frozenset({"no", "nos", "fig", "figs", "eq", "eqs", "vol", "pp", "ch", "sec", "ref"})
# A line this long that ends without punctuation and runs on in lowercase is a hard wrap.
_WRAP_MIN_CHARS = 40


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of a document: ``document[offset:offset + length] == text``."""

    text: str
    offset: int
    length: int

    @property
    def end(self) -> int:
        return self.offset + self.length


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences whose offsets point into ``text`` exactly."""
    lowercase_starts = _allows_lowercase_starts(text)
    sentences: list[Sentence] = []
    start = 0
    for cut in _boundaries(text, lowercase_starts):
        _append_span(text, start, cut, sentences)
        start = cut
    _append_span(text, start, len(text), sentences)
    return sentences


def render(sentences: Iterable[str], fmt: SummaryFormat) -> str:
    """Join summary sentences as one paragraph, or one ``- `` bullet per sentence."""
    parts = [" ".join(s.split()) for s in sentences]
    parts = [p for p in parts if p]
    if fmt == "bullets":
        return "\n".join(f"- {p}" for p in parts)
    joined = parts[:1]
    for previous, part in itertools.pairwise(parts):
        # Chinese and Japanese put no space between sentences ("。他"); other scripts do.
        joined.append(part if _SPACELESS.match(previous[-1]) and _SPACELESS.match(part[0]) else " " + part)
    return "".join(joined)


def count_words(text: str) -> int:
    """The token count reported for models without a tokenizer: words and CJK characters."""
    return len(_WORDISH.findall(text))


# Han, kana, CJK punctuation and full-width forms: text in these scripts runs on without spaces.
_SPACELESS = re.compile(r"[\u3000-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
_WORDISH = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|[^\s\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]+")


def _append_span(text: str, start: int, end: int, out: list[Sentence]) -> None:
    span = text[start:end]
    stripped = span.strip()
    if not stripped:
        return
    offset = start + (len(span) - len(span.lstrip()))
    out.append(Sentence(stripped, offset, len(stripped)))


def _boundaries(text: str, lowercase_starts: bool) -> Iterable[int]:
    for match in _CANDIDATE.finditer(text):
        if match.group("para") is not None:
            yield match.start()
        elif match.group("line") is not None:
            if _line_break_ends_sentence(text, match.start()):
                yield match.start()
        else:
            cut = _stop_boundary(text, match, lowercase_starts)
            if cut is not None:
                yield cut


def _stop_boundary(text: str, match: re.Match[str], lowercase_starts: bool) -> int | None:
    stop = match.group("stop")
    end = match.end()
    if stop[0] in _SPACELESS_STOPS:
        return end
    if end < len(text) and not text[end].isspace():
        return None  # "3.14", "U.S.A", "Yahoo!Mail"
    quote = _PTB_CLOSING_QUOTE.match(text, end)
    if quote is not None:
        end = quote.end()
    following = _next_visible(text, end)
    if following is None:
        return end
    if stop == "." and _is_abbreviation(text, match.start(), following):
        return None
    if following.islower() and not lowercase_starts:
        return None
    return end


def _is_abbreviation(text: str, stop_at: int, following: str) -> bool:
    found = _PREV_WORD.search(text, max(0, stop_at - 40), stop_at)
    if found is None:
        return False
    word = found.group(1).lower().strip(".'-")
    if word in _NUMERIC_ABBREVIATIONS:
        return following.isdigit()
    if word in _ABBREVIATIONS:
        return True
    # A single capital letter is an initial ("J. K. Rowling"), unless the text is shouting.
    return len(word) == 1 and word.isalpha() and found.group(1).isupper() and not following.islower()


def _next_visible(text: str, at: int) -> str | None:
    size = len(text)
    while at < size and (text[at].isspace() or text[at] in _OPENERS):
        at += 1
    return text[at] if at < size else None


def _line_break_ends_sentence(text: str, at: int) -> bool:
    line_start = text.rfind("\n", 0, at) + 1
    line = text[line_start:at].strip()
    if not line or line.endswith(_TERMINAL):
        return True
    rest = text[at + 1 : at + 80].lstrip(" \t")
    if not rest or _LIST_MARKER.match(rest):
        return True
    # A long line that runs on into a lowercase word is hard-wrapped prose.
    return not (len(line) >= _WRAP_MIN_CHARS and rest[0].islower())


def _allows_lowercase_starts(text: str) -> bool:
    """Whether sentences in this text may begin in lowercase (lowercased corpora).

    Decided per document: after ". " most sentences in ordinary text start with
    a capital; in lowercased text most do not.
    """
    lower = upper = 0
    taken = 0  # where the last counted match ended: its letters may not be reused
    for found in _AFTER_PERIOD.finditer(text):
        if found.start() - 3 < taken:
            continue
        taken = found.end()
        if found.group(1).islower():
            lower += 1
        else:
            upper += 1
    return lower > upper


# A lookbehind, not "[a-z]{3,}\.": that retried the whole letter run from each of its
# letters, quadratic in a long run without a period (200,000 letters took 34 s).
_AFTER_PERIOD = re.compile(r"(?<=[a-z]{3})\. +(\w)")
