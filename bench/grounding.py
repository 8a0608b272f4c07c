"""Agreement of ``models.grounding``'s consistency score with human judgments, and its cost.

    .venv/bin/python bench/grounding.py                   # both QAGS sets, halves, timings
    .venv/bin/python bench/grounding.py --data DIR --sets qags-cnndm

Prints, per set: Pearson and Spearman of ``consistency`` against the human
``consistency`` column (whole set, first half, second half), beside the n-gram
coverage baselines of the set's SOURCE.md recomputed here (``models.grounding_eval``:
share of the summary's unigrams / bigrams / trigrams found in the article; tokens are
lower-cased runs of letters and digits); what the ``unsupported`` flags catch (on the real summaries, on
copies of source sentences, and on source sentences with a number or a weekday
swapped for one the article lacks); and the median and p95 time of one ``ground``
call, on these articles and on full-length CNN articles (``--articles``, the cnndm
evaluation set, with its reference highlights as summaries). The data is read where
it is (``../shared/data`` by default); nothing is copied.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.grounding import SourceIndex, ground
from models.grounding_eval import Judgment, correlation, load_judgments, scorers
from models.grounding_tokens import NUMBER, is_date, tokenize
from models.text import split_sentences

SETS = ("qags-cnndm", "qags-xsum")
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def correlations(scores: Sequence[float], labels: Sequence[float]) -> str:
    """Pearson / Spearman on the whole set, then on each half (first and second half of the file)."""
    half = len(scores) // 2
    parts = [(scores, labels), (scores[:half], labels[:half]), (scores[half:], labels[half:])]
    return " | ".join("{:.3f} / {:.3f}".format(*correlation(s, y)) for s, y in parts)


def timings(records: Sequence[Judgment], repeat: int) -> tuple[float, float]:
    """Median and p95 milliseconds of one ``ground`` call (best of ``repeat`` per summary)."""
    times = []
    for record in records:
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            ground(record.document, record.summary)
            best = min(best, time.perf_counter() - start)
        times.append(best * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(0.95 * len(times)))]


def flagged_share(records: Sequence[Judgment], summaries: Sequence[str | None]) -> tuple[int, int]:
    """(summaries with at least one unsupported span, summaries) over the non-None ones."""
    hits = total = 0
    for record, summary in zip(records, summaries, strict=True):
        if summary is not None:
            total += 1
            hits += any(s.unsupported for s in ground(record.document, summary).sentences)
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


def swap_caught(records: Sequence[Judgment], kind: str) -> tuple[int, int]:
    caught = total = 0
    for record in records:
        found = swapped(record.document, kind)
        if found is None:
            continue
        summary, replacement = found
        total += 1
        spans = [u.text for s in ground(record.document, summary).sentences for u in s.unsupported]
        caught += any(replacement in span for span in spans)
    return caught, total


def flag_report(records: Sequence[Judgment]) -> None:
    good = flagged_share(records, [r.summary if r.consistency == 1.0 else None for r in records])
    bad = flagged_share(records, [r.summary if r.consistency < 1.0 else None for r in records])
    copies = flagged_share(records, [copied(r.document) for r in records])
    print("\n| unsupported flags | share |\n|---|---|")
    print(f"| judged consistent, at least one span listed | {good[0]}/{good[1]} |")
    print(f"| judged inconsistent, at least one span listed | {bad[0]}/{bad[1]} |")
    print(f"| first three source sentences copied, any span listed | {copies[0]}/{copies[1]} |")
    for kind in ("number", "weekday"):
        caught, total = swap_caught(records, kind)
        print(f"| a source sentence with a {kind} swapped for one not in the article: swap listed | {caught}/{total} |")


def report(name: str, records: Sequence[Judgment], repeat: int) -> None:
    labels = [r.consistency for r in records]
    chars = statistics.median(len(r.document) for r in records)
    print(f"\n## {name} ({len(records)} summaries, median article {chars:.0f} characters)\n")
    print("| score | Pearson / Spearman (all) | first half | second half |")
    print("|---|---|---|---|")
    for label, scorer in scorers().items():
        scores = [scorer(r.document, r.summary) for r in records]
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
    for name in args.sets.split(","):
        report(name, load_judgments(args.data / f"{name}.jsonl"), args.repeat)
    if args.articles.is_file():
        articles = [_article(line) for line in args.articles.read_text(encoding="utf-8").splitlines() if line.strip()]
        chars = statistics.median(len(r.document) for r in articles)
        median, p95 = timings(articles, args.repeat)
        print(
            f"\n## {args.articles.parent.name}/{args.articles.name}: {len(articles)} articles, median {chars:.0f} chars"
        )
        print(f"\n`ground` per reference summary: median {median:.2f} ms, p95 {p95:.2f} ms (one core)")


def _article(line: str) -> Judgment:
    record = json.loads(line)
    return Judgment(str(record["document"]), str(record["summary"]), 1.0)  # no judgment: timing only


if __name__ == "__main__":
    main()
