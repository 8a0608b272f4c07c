"""ROUGE of the extractive summarizer against Lead baselines on the evaluation sets.

    .venv/bin/python bench/quality.py                      # all three sets, default config
    .venv/bin/python bench/quality.py --sets cnndm --limit 300 --set beta=0.2 --set position_weight=0.5

Prints one table per set (model, Lead-3, Lead-250-words for long documents) with
docs/s of the model's summarization. The data stays where it is
(``../shared/data`` by default, ``--data`` to change); nothing is copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.evaluation import (
    ROUGE_TYPES,
    EvalReport,
    evaluate,
    format_report,
    load_eval_records,
    make_scorer,
    score_summary,
    sentence_lines,
)
from models.extractive import ExtractiveConfig, ExtractiveSummarizer
from models.types import SummaryOptions

SETS = {
    "cnndm": "cnndm/test.jsonl",
    "summeval": "cnndm-summeval/test.jsonl",
    "pubmed": "sumpubmed/sample.jsonl",
}


def lead_words(text: str, words: int) -> str:
    """The first ``words`` whitespace words, one sentence per line."""
    return sentence_lines(" ".join(text.split()[:words]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--sets", default="cnndm,summeval,pubmed")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--set", action="append", default=[], help="config override, e.g. beta=0.2")
    parser.add_argument("--lead-words", type=int, default=250)
    args = parser.parse_args()
    config = _config(args.set)
    summarizer = ExtractiveSummarizer(config=config)
    for name in args.sets.split(","):
        records = load_eval_records(args.data / SETS[name], limit=args.limit)
        report = evaluate(summarizer, records, SummaryOptions())
        print(f"## {name} ({len(records)} documents)")
        print(format_report(report))
        if name == "pubmed":
            scorer = make_scorer()
            rows = [score_summary(scorer, r.references, lead_words(r.text, args.lead_words)) for r in records]
            means = [sum(row[m] for row in rows) / len(rows) for m in ROUGE_TYPES]
            print(f"lead-{args.lead_words}w  " + "  ".join(f"{v:.2f}" for v in means))
        _print_lengths(summarizer, records)
        print()


def _config(overrides: list[str]) -> ExtractiveConfig:
    fields = {f.name: f for f in dataclasses.fields(ExtractiveConfig)}
    values: dict[str, object] = {}
    for item in overrides:
        key, _, raw = item.partition("=")
        kind = type(getattr(ExtractiveConfig(), key)) if key in fields else None
        if kind is None:
            raise SystemExit(f"unknown config field {key!r}; known: {', '.join(fields)}")
        values[key] = kind(raw) if kind is not bool else raw.lower() in {"1", "true", "yes"}
    return dataclasses.replace(ExtractiveConfig(), **values)  # type: ignore[arg-type]


def _print_lengths(summarizer: ExtractiveSummarizer, records: list) -> None:  # type: ignore[type-arg]
    summaries = summarizer.summarize([r.text for r in records[:200]], SummaryOptions())
    sentences = [len(s.sentences or ()) for s in summaries]
    words = [s.output_tokens for s in summaries]
    print(f"mean sentences {sum(sentences) / len(sentences):.2f}, mean words {sum(words) / len(words):.1f}")


__all__ = ["EvalReport", "main"]

if __name__ == "__main__":
    main()
