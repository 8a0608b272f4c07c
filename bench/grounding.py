"""Agreement of ``models.grounding``'s consistency score with human judgments, and its cost.

    .venv/bin/python bench/grounding.py                   # both QAGS sets, halves, timings
    .venv/bin/python bench/grounding.py --data DIR --sets qags-cnndm

Prints, per set: Pearson and Spearman of ``consistency`` against the human
``consistency`` column (whole set, first half, second half), beside the n-gram
coverage baselines of the set's SOURCE.md recomputed here (share of the summary's
unigrams / bigrams / trigrams found in the article; tokens are lower-cased runs of
letters and digits); what the ``unsupported`` flags catch (on the real summaries, on
copies of source sentences, and on source sentences with a number or a weekday
swapped for one the article lacks); and the median and p95 time of one ``ground``
call, on these articles and on full-length CNN articles (``--articles``, the cnndm
evaluation set, with its reference highlights as summaries). The data is read where
it is (``../shared/data`` by default); nothing is copied.
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

from models.grounding import SourceIndex, ground
from models.grounding_tokens import NUMBER, is_date, tokenize
from models.text import split_sentences

SETS = ("qags-cnndm", "qags-xsum")
_BASELINE_TOKEN = re.compile(r"[a-z0-9]+")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

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


def flagged_share(records: Sequence[Record], summaries: Sequence[str | None]) -> tuple[int, int]:
    """(summaries with at least one unsupported span, summaries) over the non-None ones."""
    hits = total = 0
    for record, summary in zip(records, summaries, strict=True):
        if summary is not None:
            total += 1
            hits += any(s.unsupported for s in ground(str(record["document"]), summary).sentences)
    return hits, total


def copied(document: str) -> str:
    return " ".join(s.text for s in split_sentences(document)[:3])


def swapped(document: str, kind: str) -> tuple[str, str] | None:
    """A source sentence with its first number (or weekday) replaced by one the document lacks, and the new text."""
    keys = SourceIndex(document).keys
    for sentence in split_sentences(document):
        for token in tokenize(sentence.text):
            original = sentence.text[token.start : token.end]
            if kind == "number" and token.kind == NUMBER and original.isdigit():
                value = int(original) + 7
                while str(value) in keys:
                    value += 7
                replacement = str(value)
            elif kind == "weekday" and is_date(token.key) and original.lower() in _WEEKDAYS:
                absent = [d for d in _WEEKDAYS if d[:6].rstrip("y") not in keys and d != original.lower()]
                if not absent:
                    continue
                replacement = absent[0]
            else:
                continue
            return sentence.text[: token.start] + replacement + sentence.text[token.end :], replacement
    return None


def swap_caught(records: Sequence[Record], kind: str) -> tuple[int, int]:
    caught = total = 0
    for record in records:
        document = str(record["document"])
        found = swapped(document, kind)
        if found is None:
            continue
        summary, replacement = found
        total += 1
        spans = [u.text for s in ground(document, summary).sentences for u in s.unsupported]
        caught += any(replacement in span for span in spans)
    return caught, total


def flag_report(records: Sequence[Record]) -> None:
    labels = [float(str(r["consistency"])) for r in records]
    summaries = [str(r["summary"]) for r in records]
    good = flagged_share(records, [s if y == 1.0 else None for s, y in zip(summaries, labels, strict=True)])
    bad = flagged_share(records, [s if y < 1.0 else None for s, y in zip(summaries, labels, strict=True)])
    copies = flagged_share(records, [copied(str(r["document"])) for r in records])
    print("\n| unsupported flags | share |\n|---|---|")
    print(f"| judged consistent, at least one span listed | {good[0]}/{good[1]} |")
    print(f"| judged inconsistent, at least one span listed | {bad[0]}/{bad[1]} |")
    print(f"| first three source sentences copied, any span listed | {copies[0]}/{copies[1]} |")
    for kind in ("number", "weekday"):
        caught, total = swap_caught(records, kind)
        print(f"| a source sentence with a {kind} swapped for one not in the article: swap listed | {caught}/{total} |")


def report(name: str, records: Sequence[Record], scorers: dict[str, Scorer], repeat: int) -> None:
    labels = [float(str(r["consistency"])) for r in records]
    chars = statistics.median(len(str(r["document"])) for r in records)
    print(f"\n## {name} ({len(records)} summaries, median article {chars:.0f} characters)\n")
    print("| score | Pearson / Spearman (all) | first half | second half |")
    print("|---|---|---|---|")
    for label, scorer in scorers.items():
        scores = [scorer(str(r["document"]), str(r["summary"])) for r in records]
        print(f"| {label} | {correlations(scores, labels)} |")
    flag_report(records)
    median, p95 = timings(records, repeat)
    print(f"\n`ground` per summary: median {median:.2f} ms, p95 {p95:.2f} ms (one core, best of {repeat})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    shared = Path(__file__).resolve().parents[2] / "shared" / "data"
    parser.add_argument("--data", type=Path, default=shared / "faithfulness", help="folder of the qags-*.jsonl files")
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--articles", type=Path, default=shared / "cnndm" / "test.jsonl", help="timing on these")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs per summary (the best counts)")
    args = parser.parse_args()
    scorers: dict[str, Scorer] = {"grounding (this)": grounding_score}
    for n, label in ((1, "unigram"), (2, "bigram"), (3, "trigram")):
        scorers[f"{label} coverage (baseline)"] = ngram_coverage(n)
    for name in args.sets.split(","):
        report(name, load(args.data / f"{name}.jsonl"), scorers, args.repeat)
    if args.articles.is_file():
        articles = load(args.articles)
        chars = statistics.median(len(str(r["document"])) for r in articles)
        median, p95 = timings(articles, args.repeat)
        print(
            f"\n## {args.articles.parent.name}/{args.articles.name}: {len(articles)} articles, median {chars:.0f} chars"
        )
        print(f"\n`ground` per reference summary: median {median:.2f} ms, p95 {p95:.2f} ms (one core)")


if __name__ == "__main__":
    main()
