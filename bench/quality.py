"""ROUGE of the extractive summarizer against Lead baselines on the evaluation sets.

    .venv/bin/python bench/quality.py                      # all three sets, default config
    .venv/bin/python bench/quality.py --sets cnndm --limit 300 --set beta=0.2 --set position_weight=0.5
    .venv/bin/python bench/quality.py --embedder auto     # the embedding variant (needs docsum[embeddings])

Prints one table per set (model, Lead-3, Lead-250-words for long documents) with
docs/s of the model's summarization. The data stays where it is
(``../shared/data`` by default, ``--data`` to change); nothing is copied.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.embeddings import EmbedderDType, SentenceEmbedder
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
    parser.add_argument(
        "--embedder", metavar="PATH|auto", help="sentence encoder for the embedding variant (auto: the bundled MiniLM)"
    )
    parser.add_argument("--embedder-dtype", default="float32", choices=["auto", "float32", "bfloat16", "float16"])
    args = parser.parse_args()
    config = _config(args.set)
    replay = _Replay(_encoder(args.embedder, args.embedder_dtype)) if args.embedder else None
    summarizer = (
        ExtractiveSummarizer("extractive+embeddings", config=config, embedder=replay)
        if replay is not None
        else ExtractiveSummarizer(config=config)
    )
    for name in args.sets.split(","):
        records = load_eval_records(args.data / SETS[name], limit=args.limit)
        if replay is not None:
            replay.replay = False
        report = evaluate(summarizer, records, SummaryOptions())
        if replay is not None:
            replay.replay = True
        print(f"## {name} ({len(records)} documents)")
        print(format_report(report))
        if name == "pubmed":
            scorer = make_scorer()
            rows = [score_summary(scorer, r.references, lead_words(r.text, args.lead_words)) for r in records]
            means = [sum(row[m] for row in rows) / len(rows) for m in ROUGE_TYPES]
            print(f"lead-{args.lead_words}w  " + "  ".join(f"{v:.2f}" for v in means))
        _print_lengths(summarizer, records)
        print()


def _encoder(source: str, dtype: EmbedderDType) -> Any:
    import torch  # only when asked for: the no-weights runs never load it

    encoder = SentenceEmbedder(source, device="cpu", dtype=dtype)
    print(f"embedder: {encoder.source} ({dtype}, {torch.get_num_threads()} torch threads)")
    return encoder


class _Replay:
    """Encodes as the wrapped embedder does and keeps the vectors, so that the length
    statistics after a timed run re-use them instead of encoding the set a second time."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._seen: dict[str, np.ndarray] = {}
        self.replay = False  # off while timing: repeated sentences cost what they cost

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not self.replay:
            vectors: np.ndarray = self._inner.embed(texts)
            self._seen.update(zip(texts, vectors, strict=True))
            return vectors
        missing = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if missing:
            self._seen.update(zip(missing, self._inner.embed(missing), strict=True))
        return np.stack([self._seen[t] for t in texts])


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
