"""Agreement of the grounding score with human judgments, beside n-gram coverage baselines.

A judgments file has one JSON object per line, ``{"document", "summary",
"consistency"}`` (other keys are ignored), as the QAGS sets in
``../shared/data/faithfulness``. :func:`agreement` scores every line with
:func:`models.grounding.ground` and with the share of the summary's n-grams found in
the document (tokens: lower-cased runs of letters and digits, as in those sets'
SOURCE.md), and gives each score's Pearson and Spearman correlation with the human
column, one point per summary.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from scipy.stats import pearsonr, spearmanr

from models.grounding import ground
from models.inputs import Problem, read_file

_BASELINE_TOKEN = re.compile(r"[a-z0-9]+")
GROUNDING = "grounding"
BASELINES = {"unigram coverage": 1, "bigram coverage": 2, "trigram coverage": 3}


@dataclass(frozen=True, slots=True)
class Judgment:
    document: str
    summary: str
    consistency: float


@dataclass(frozen=True, slots=True)
class Agreement:
    """How well one score agrees with the human column (NaN where a column is constant)."""

    score: str
    n: int
    pearson: float
    spearman: float


def load_judgments(path: Path) -> list[Judgment]:
    """The records of a judgments file (JSON lines, or any format of :mod:`models.inputs` by its suffix);
    a record without the three fields is an error naming ``path`` and its number."""
    judgments: list[Judgment] = []
    for item in read_file(path, ids_required=False):
        if isinstance(item, Problem):
            raise ValueError(f"{path}:{item.number}: {item.message}")
        try:
            judgments.append(Judgment(item.text, str(item.fields["summary"]), float(item.fields["consistency"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{item.number}: expected {{document, summary, consistency}}: {exc}") from exc
    return judgments


def ngram_coverage(document: str, summary: str, n: int) -> float:
    """The share of the summary's n-grams that occur in the document (1.0 for a summary with none)."""
    doc = _BASELINE_TOKEN.findall(document.lower())
    summ = _BASELINE_TOKEN.findall(summary.lower())
    grams = {tuple(doc[i : i + n]) for i in range(len(doc) - n + 1)}
    wanted = [tuple(summ[i : i + n]) for i in range(len(summ) - n + 1)]
    return sum(g in grams for g in wanted) / len(wanted) if wanted else 1.0


def scorers() -> dict[str, Callable[[str, str], float]]:
    """The grounding score first, then the baselines."""
    found: dict[str, Callable[[str, str], float]] = {GROUNDING: _grounding}
    for name, n in BASELINES.items():
        found[name] = partial(ngram_coverage, n=n)
    return found


def _grounding(document: str, summary: str) -> float:
    return ground(document, summary).consistency


def agreement(judgments: Sequence[Judgment], names: Iterable[str] | None = None) -> list[Agreement]:
    """Pearson and Spearman of each score (all by default) against the human ``consistency``."""
    available = scorers()
    labels = [j.consistency for j in judgments]
    out: list[Agreement] = []
    for name in names if names is not None else available:
        scores = [available[name](j.document, j.summary) for j in judgments]
        out.append(Agreement(name, len(judgments), *correlation(scores, labels)))
    return out


def correlation(scores: Sequence[float], labels: Sequence[float]) -> tuple[float, float]:
    """(Pearson, Spearman); NaN when fewer than two points or either side is constant."""
    if len(scores) < 2 or len(set(scores)) < 2 or len(set(labels)) < 2:
        return math.nan, math.nan
    return float(pearsonr(scores, labels)[0]), float(spearmanr(scores, labels)[0])
