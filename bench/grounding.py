"""Agreement of ``models.grounding``'s consistency score with human judgments, and its cost.

    .venv/bin/python bench/grounding.py                   # both QAGS sets, halves, timings
    .venv/bin/python bench/grounding.py --data DIR --sets qags-cnndm

Prints, per set: Pearson and Spearman of ``consistency`` against the human
``consistency`` column (whole set, first half, second half), beside the n-gram
coverage baselines of the set's SOURCE.md recomputed here (share of the summary's
unigrams / bigrams / trigrams found in the article; tokens are lower-cased runs of
letters and digits), then the median and p95 time of one ``ground`` call. The data
is read where it is (``../shared/data/faithfulness`` by default); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from scipy.stats import pearsonr, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.grounding import ground

SETS = ("qags-cnndm", "qags-xsum")
_BASELINE_TOKEN = re.compile(r"[a-z0-9]+")

Record = dict[str, object]
Scorer = Callable[[str, str], float]


def load(path: Path) -> list[Record]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def ngram_coverage(n: int) -> Scorer:
    """SOURCE.md's baseline: the share of the summary's n-grams that occur in the article."""

    def score(document: str, summary: str) -> float:
        doc = _BASELINE_TOKEN.findall(document.lower())
        summ = _BASELINE_TOKEN.findall(summary.lower())
        grams = {tuple(doc[i : i + n]) for i in range(len(doc) - n + 1)}
        wanted = [tuple(summ[i : i + n]) for i in range(len(summ) - n + 1)]
        return sum(g in grams for g in wanted) / len(wanted) if wanted else 1.0

    return score


def grounding_score(document: str, summary: str) -> float:
    return ground(document, summary).consistency


def correlations(scores: Sequence[float], labels: Sequence[float]) -> str:
    """Pearson / Spearman on the whole set, then on each half (first and second half of the file)."""
    half = len(scores) // 2
    parts = [(scores, labels), (scores[:half], labels[:half]), (scores[half:], labels[half:])]
    cells = []
    for s, y in parts:
        cells.append(f"{pearsonr(s, y)[0]:.3f} / {spearmanr(s, y)[0]:.3f}")
    return " | ".join(cells)


def timings(records: Sequence[Record], repeat: int) -> tuple[float, float]:
    """Median and p95 milliseconds of one ``ground`` call (best of ``repeat`` per summary)."""
    times = []
    for record in records:
        document, summary = str(record["document"]), str(record["summary"])
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            ground(document, summary)
            best = min(best, time.perf_counter() - start)
        times.append(best * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def report(name: str, records: Sequence[Record], scorers: dict[str, Scorer], repeat: int) -> None:
    labels = [float(str(r["consistency"])) for r in records]
    chars = statistics.median(len(str(r["document"])) for r in records)
    print(f"\n## {name} ({len(records)} summaries, median article {chars:.0f} characters)\n")
    print("| score | Pearson / Spearman (all) | first half | second half |")
    print("|---|---|---|---|")
    for label, scorer in scorers.items():
        scores = [scorer(str(r["document"]), str(r["summary"])) for r in records]
        print(f"| {label} | {correlations(scores, labels)} |")
    median, p95 = timings(records, repeat)
    print(f"\n`ground` per summary: median {median:.2f} ms, p95 {p95:.2f} ms (one core, best of {repeat})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default = Path(__file__).resolve().parents[2] / "shared" / "data" / "faithfulness"
    parser.add_argument("--data", type=Path, default=default, help="folder of the qags-*.jsonl files")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per summary (the best counts)")
    args = parser.parse_args()
    scorers: dict[str, Scorer] = {"grounding (this)": grounding_score}
    for n, label in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        scorers[f"{label} coverage (baseline)"] = ngram_coverage(n)
    for name in args.sets.split(","):
        report(name, load(args.data / f"{name}.jsonl"), scorers, args.repeat)


if __name__ == "__main__":
    main()
