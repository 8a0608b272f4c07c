"""Normalized word keys with exact offsets, for matching a summary against its source.

Two texts that say the same thing in different surface forms get the same keys:
case; number words and digits ("two million" = "2 million" = "2,000,000" = "2m");
ordinals ("third" = "3rd"); "%" = "percent" = "per cent"; common abbreviations
("U.S." = "US" = "United States", "Sept." = "September", "km" = "kilometres");
possessives and clitics ("Obama's" = "obama 's", "don't" = "do n't"); curly quotes;
British and American spelling ("colour", "centre", "realise"); inflection (irregular
verbs by table, then one suffix off and the first 6 characters, which stands in for
a stemmer as in ``models.extractive``). Lower-cased, PTB-tokenized text such as
XSum's ("53 , 193 , 914", "1 . 8 million") gives the same keys as ordinary text.

Every token keeps the character range it came from, so a key with no match can be
pointed at exactly. Tokenizing is the hot loop of grounding: per-word work is cached.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

# CJK, kana and hangul: one character per key (those scripts do not put spaces between words).
_CJK = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uac00-\ud7af"
_LETTERS = rf"[^\W\d_{_CJK}]"
_PIECE = re.compile(
    rf"(?P<neg>n['’]t)(?!{_LETTERS})"
    rf"|(?P<word>{_LETTERS}+?(?=n['’]t(?!{_LETTERS}))|{_LETTERS}+(?!\.{_LETTERS}\.))"
    rf"|(?P<abbr>(?:{_LETTERS}\.){{2,}})"  # U.S., e.u., U.S.A.
    # "2,000", "2.5", tokenized "53 , 193 , 914" and "1 . 8"; with "2m", "3rd", "1980s".
    r"|(?P<num>(?:\d{1,3}(?: , \d{3}(?!\d))+(?: \. \d+)?|\d+(?:(?:[.,]| \. )\d+)*)"
    rf"(?:(?:st|nd|rd|th|bn|m|k|s)(?!{_LETTERS}))?)"
    rf"|(?P<cjk>[{_CJK}])"
    rf"|(?P<clitic>['’](?:s|re|ve|ll|d|m))(?!{_LETTERS})"
    r"|(?P<pct>%)"
    r"|(?P<currency>[£$€¥])"
)
_new = tuple.__new__  # builds a Token without NamedTuple's Python-level __new__ (the hot loop)
_SPACED_DECIMAL = re.compile(r"(?<![\d.])(\d+) \. (\d+)")
_NUMBER_PARTS = re.compile(r"([\d., ]*\d)(st|nd|rd|th|bn|m|k|s)?$")

NUMBER = "number"
WORD = "word"
FUNCTION = "function"  # a stopword: never content, never flagged


class Token(NamedTuple):
    """A normalized key and the range of the text it came from: ``text[start:end]``."""

    key: str
    start: int
    end: int
    kind: str  # NUMBER, WORD or FUNCTION
    capitalized: bool  # written with a capital letter (a name, in cased text)
    inflected: bool = False  # a word ending in -ed or -ing: a verb form, often reworded

    @property
    def content(self) -> bool:
        return self.kind != FUNCTION


_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 1e2, "thousand": 1e3, "million": 1e6, "billion": 1e9, "trillion": 1e12}
_SUFFIX_SCALES = {"k": 1e3, "m": 1e6, "bn": 1e9}
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
    "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13, "fourteenth": 14,
    "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18, "nineteenth": 19, "twentieth": 20,
}  # fmt: skip
# The same word spelled another way (before stemming).
_SYNONYMS = {
    "percent": "%", "pct": "%", "mister": "mr", "usa": "USA", "uk": "UK", "un": "UN", "eu": "EU",
    "jan": "january", "feb": "february", "apr": "april", "jun": "june", "jul": "july", "aug": "august",
    "sep": "september", "sept": "september", "oct": "october", "nov": "november", "dec": "december",
    "gov": "governor", "sen": "senator", "gen": "general", "sgt": "sergeant", "lt": "lieutenant",
    "capt": "captain", "prof": "professor", "mt": "mount", "km": "kilometre", "kg": "kilogram",
    "ca": "can", "wo": "will", "sha": "shall",  # "ca n't", "wo n't"
    "pound": "£", "pounds": "£", "dollar": "$", "dollars": "$", "euro": "€", "euros": "€", "yen": "¥",
}  # fmt: skip
# Letters with periods: "U.S." is the country, never the pronoun.
_ABBREVIATIONS = {"us": "USA", "usa": "USA", "uk": "UK", "un": "UN", "eu": "EU"}
# Two words that name one thing another way.
_PAIR_WORDS = {
    ("per", "cent"): "%",
    ("united", "states"): "USA",
    ("united", "kingdom"): "UK",
    ("united", "nations"): "UN",
    ("european", "union"): "EU",
}
# A source's lower-case "us" may be the country (lower-cased corpora): it matches both.
_ALSO = {"us": "USA"}
_DATE_WORDS = (
    "january february march april june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
).split()

# Function words, and light words that paraphrases add freely ("according", "new", "became").
STOPWORDS = frozenset(
    """
    a an the and or but nor so yet if then than that this these those there here of to in on at by for
    from with without into onto upon about above below over under after before between through during
    against among around as is are was were be been being am do does did doing done have has had having
    will would shall should can could may might must not no it its he him his she her hers they them
    their theirs we us our ours you your yours i me my mine who whom whose which what when where why how
    all any both each few more most other some such only own same too very just also again further once
    up down out off s t said says say told while because until since though although whether within via
    per mr mrs ms according across afterwards almost alone along already always amongst another anyone
    anything anyway back became become becomes becoming behind beside besides beyond cannot come came
    comes either else enough even ever every everyone everything except get gets got however indeed
    least less made make makes making many meanwhile moreover mostly much namely new next nothing now
    often perhaps rather several something sometimes still together toward towards well whatever whole
    yet latest recent recently past way
    """.split()
)
_STEM_CHARS = 6
_SUFFIXES = ("ings", "ing", "ies", "ied", "ed", "es", "s", "e", "y")
# British spellings as American ones where a prefix alone would not match them.
_BRITISH = re.compile(r"(?<=\w\w\w)(?:(our|tre)(s|ed|ing)?|(is|ys)(e|es|ed|ing|ation|ations))$")
_BRITISH_TO_US = {"our": "or", "tre": "ter", "is": "iz", "ys": "yz"}
# Irregular verb forms as their base form, so "won" matches "win" (and "death" "died").
_IRREGULAR = {
    form: base
    for base, forms in {
        "be": "was were been", "begin": "began begun", "break": "broke broken", "bring": "brought",
        "build": "built", "buy": "bought", "catch": "caught", "choose": "chose chosen", "come": "came",
        "die": "died dies dying dead death", "do": "did done", "drive": "drove driven", "eat": "ate eaten",
        "fall": "fell fallen", "feel": "felt", "fight": "fought", "find": "found", "fly": "flew flown",
        "forget": "forgot forgotten", "get": "got gotten", "give": "gave given", "go": "went gone",
        "grow": "grew grown", "have": "has had", "hold": "held", "keep": "kept", "know": "knew known",
        "lead": "led", "leave": "left", "lose": "lost", "make": "made", "mean": "meant", "meet": "met",
        "pay": "paid", "rise": "rose risen", "run": "ran", "say": "said says", "see": "saw seen",
        "sell": "sold", "send": "sent", "shoot": "shot", "sing": "sang sung", "sit": "sat",
        "speak": "spoke spoken", "spend": "spent", "stand": "stood", "steal": "stole stolen",
        "strike": "struck", "swim": "swam swum", "take": "took taken", "teach": "taught", "tell": "told",
        "think": "thought", "throw": "threw thrown", "understand": "understood", "use": "used uses",
        "wear": "wore worn", "win": "won", "write": "wrote written", "beat": "beaten",
        "seek": "sought", "hide": "hid hidden", "bear": "bore born borne", "freeze": "froze frozen",
        "ride": "rode ridden", "shake": "shook shaken", "wake": "woke woken", "withdraw": "withdrew withdrawn",
    }.items()
    for form in forms.split()
}  # fmt: skip
# Internal kinds, resolved by _merge: a number written as a word, and a scale word ("million").
_NUMWORD = "numword"
_SCALE = "scale"


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text`` in order; "two million" and "per cent" are one token each."""
    out: list[Token] = []
    special: list[int] = []  # numbers, scale words and pair starts: the merge pass looks at these only
    for match in _PIECE.finditer(text):
        group = match.lastgroup
        if group == "word":
            key, kind, capitalized, inflected = _word(match.group())
            if kind in _SPECIAL_KINDS or key in _PAIR_FIRSTS:
                special.append(len(out))
            out.append(_new(Token, (key, match.start(), match.end(), kind, capitalized, inflected)))
        elif group == "num":
            special.append(len(out))
            out.append(_new(Token, (_number_key(match.group()), match.start(), match.end(), NUMBER, False, False)))
        elif group == "cjk":
            out.append(_new(Token, (match.group(), match.start(), match.end(), WORD, False, False)))
        elif group == "abbr":
            piece = match.group()
            lower = piece.replace(".", "").lower()
            key = _ABBREVIATIONS.get(lower) or _stem(lower)
            out.append(_new(Token, (key, match.start(), match.end(), WORD, piece[0].isupper(), False)))
        elif group == "neg":
            out.append(_new(Token, ("not", match.start(), match.end(), FUNCTION, False, False)))
        elif group == "pct":
            out.append(_new(Token, ("%", match.start(), match.end(), WORD, False, False)))
        elif group == "currency":  # matches "pounds" and "dollars"; a symbol alone claims nothing
            out.append(_new(Token, (match.group(), match.start(), match.end(), FUNCTION, False, False)))
        # a clitic ("'s", "'re") carries no content
    return _merge(out, special) if special else out


def source_keys(keys: set[str], text: str) -> set[str]:
    """The keys a source offers for matching: its own, plus the other readings of ambiguous text.

    A lower-case "us" may be the country; tokenized "7 . 8" may be a sentence ending in
    7 and one starting with 8 (the sentence splitter cuts it there).
    """
    extra = {_ALSO[k] for k in keys & _ALSO.keys()}
    for match in _SPACED_DECIMAL.finditer(text):
        extra.add(_number_key(match.group(1)))
        after = tokenize(text[match.start(2) : match.start(2) + 40])  # "3 billion" as the next sentence reads it
        if after:
            extra.add(after[0].key)
    return keys | extra


def is_date(key: str) -> bool:
    return key in _DATE_KEYS


@lru_cache(maxsize=1 << 16)
def _word(piece: str) -> tuple[str, str, bool, bool]:
    """(key, kind, capitalized, inflected) of a run of letters."""
    lower = piece.lower()
    if lower in _UNITS:
        return str(_UNITS[lower]), _NUMWORD, False, False
    if lower in _ORDINALS:
        return f"#{_ORDINALS[lower]}", NUMBER, False, False
    if lower in _SCALES:
        return lower, _SCALE, False, False
    if piece == "US":  # in capitals, the country; "us" is the pronoun
        return "USA", WORD, True, False
    word = _SYNONYMS.get(lower, lower)
    kind = FUNCTION if word in STOPWORDS else WORD
    inflected = len(word) > 4 and word.endswith(("ed", "ing"))
    return _stem(word), kind, piece[0].isupper(), inflected


def _stem(word: str) -> str:
    """One inflection off, then the first characters: "scored" = "score", "injuries" = "injured"."""
    word = _IRREGULAR.get(word, word)
    word = _BRITISH.sub(_americanize, word)
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "aeiou":
        word = word[:-1]  # "running" -> "runn" -> "run"
    return word[:_STEM_CHARS]


def _americanize(match: re.Match[str]) -> str:
    root = match.group(1) or match.group(3)
    return _BRITISH_TO_US[root] + (match.group(2) or match.group(4) or "")


def _number_key(text: str) -> str:
    """Number keys: "2,000" = "2000", "1 . 8" = "1.8", "2m" = "2000000", "3rd" = "#3"; "1980s" stays itself."""
    found = _NUMBER_PARTS.match(text)
    digits, suffix = (found.group(1), found.group(2)) if found else (text, None)
    digits = digits.replace(" , ", ",").replace(" . ", ".")
    if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", digits):
        digits = digits.replace(",", "")
    digits = digits.replace(",", ".")  # a decimal comma ("2,5")
    if digits.count(".") > 1:
        return digits  # "1.2.3": a version or a list, compared as written
    value = float(digits)
    if suffix in ("st", "nd", "rd", "th"):
        return f"#{_format(value)}"
    if suffix in _SUFFIX_SCALES:
        return _format(value * _SUFFIX_SCALES[suffix])
    return _format(value) + ("s" if suffix == "s" else "")


def _format(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def _merge(raw: list[Token], special: list[int]) -> list[Token]:
    """Numbers with their number and scale words; two words that name one thing ("per cent")."""
    out: list[Token] = []
    position = 0
    for i in special:
        if i < position:
            continue  # taken into the number or pair before it
        out.extend(raw[position:i])
        token = raw[i]
        position = i + 1
        if token.kind in (NUMBER, _NUMWORD) and _value(token.key) is not None:
            merged, position = _number_run(raw, i)
            out.append(merged)
        elif i + 1 < len(raw) and (token.key, raw[i + 1].key) in _PAIRS:
            out.append(token._replace(key=_PAIRS[token.key, raw[i + 1].key], end=raw[i + 1].end, kind=WORD))
            position = i + 2
        elif token.kind == _SCALE:  # "millions of", "hundreds of": a word here
            out.append(token._replace(key=_stem(token.key), kind=WORD))
        elif token.kind == _NUMWORD:
            out.append(token._replace(kind=NUMBER))
        else:
            out.append(token)
    out.extend(raw[position:])
    return out


def _value(key: str) -> float | None:
    try:
        return float(key)
    except ValueError:
        return None  # "#3" (an ordinal), "1980s"


def _number_run(raw: list[Token], i: int) -> tuple[Token, int]:
    """A number and the scale and number words that continue it ("two hundred and five million")."""
    first = raw[i]
    current = _value(first.key) or 0.0
    total = 0.0
    worded = first.kind == _NUMWORD
    j = i + 1
    while j < len(raw):
        token = raw[j]
        if token.kind == _SCALE and current > 0:
            if token.key == "hundred":
                current *= 100.0
            else:
                total += current * _SCALES[token.key]
                current = 0.0
        elif token.kind == _NUMWORD and worded and _continues(total + current, current, float(token.key)):
            current += float(token.key)
        elif j == i + 1 and token.key in _SUFFIX_SCALES and token.end - token.start <= 2:
            current *= _SUFFIX_SCALES[token.key]  # tokenized "£ 1.5 m"
            j += 1
            break
        else:
            break
        j += 1
    return Token(_format(total + current), first.start, raw[j - 1].end, NUMBER, False), j


def _continues(whole: float, current: float, value: float) -> bool:
    """Whether a number word continues a number: "twenty five" is 25, "two three" is two numbers."""
    if current == 0:
        return whole > 0 and value < 1000  # "two million five hundred"
    if current % 100 == 0:
        return value < 100
    return current % 10 == 0 and current < 100 and value < 10


_PAIRS = {(_stem(a), _stem(b)): key for (a, b), key in _PAIR_WORDS.items()}
_PAIR_FIRSTS = frozenset(first for first, _ in _PAIRS)
_SPECIAL_KINDS = frozenset({_NUMWORD, _SCALE})
_DATE_KEYS = frozenset(_stem(word) for word in _DATE_WORDS)
