"""``docsum eval``: ROUGE of a model against references, beside a Lead-3 baseline."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from models.errors import ModelError
from service.cli_common import cli_settings, fail, load_summarizer
from service.cli_options import (
    Language,
    Length,
    LengthPenalty,
    MaxTokens,
    MinTokens,
    NoRepeatNgramSize,
    NumBeams,
    Seed,
    Sentences,
    Temperature,
    Truncation,
    options_or_exit,
)


def evaluate_command(
    data: Annotated[
        Path,
        typer.Argument(
            help='JSONL lines {"id", "document"|"text", "summary", "references"?}, or a .csv with those columns.'
        ),
    ],
    judgments: Annotated[
        bool,
        typer.Option(
            "--judgments",
            help='DATA holds human judgments {"document", "summary", "consistency"}: print how grounding\'s '
            "consistency score correlates with them (Pearson, Spearman), beside n-gram coverage.",
        ),
    ] = False,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Catalog name, local directory or hub id.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N documents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    num_beams: NumBeams = None,
    length_penalty: LengthPenalty = None,
    no_repeat_ngram_size: NoRepeatNgramSize = None,
    sentences: Sentences = None,
    length: Length = None,
    truncation: Truncation = "chunk",
    language: Language = None,
    temperature: Temperature = None,
    seed: Seed = None,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Documents per model call.")] = None,
) -> None:
    """Score a model with ROUGE-1/2/L/Lsum (F1, stemmed) on DATA, beside Lead-3."""
    # Here, not at the top: ROUGE brings nltk, which brings scipy, scikit-learn and pandas
    # (180 MB and 1.3 s), and every other docsum command, `serve` included, imports this module.
    from models.evaluation import evaluate, format_report, load_eval_records

    if not data.is_file():
        fail(f"no data file at {data}")
    if judgments:
        _score_judgments(data, limit, as_json)
        return
    try:
        records = load_eval_records(data, limit)
    except ValueError as exc:
        fail(str(exc))
    options = options_or_exit(locals())  # the summary options among the flags (models/options.py)
    summarizer = load_summarizer(model)
    try:
        report = evaluate(summarizer, records, options, batch_size=batch_size or cli_settings().batch_size)
    except ModelError as exc:
        fail(exc.message)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))


def _score_judgments(data: Path, limit: int | None, as_json: bool) -> None:
    """``--judgments``: agreement of grounding's consistency score with people; with --json, the last line
    is the grounding row as one object (n, pearson, spearman)."""
    from models.grounding_eval import GROUNDING, agreement, load_judgments

    try:
        rows = load_judgments(data)[:limit]
    except (ValueError, KeyError, TypeError) as exc:
        fail(f"{data}: {exc}")
    if len(rows) < 3:
        fail(f"{data}: {len(rows)} judgments; correlation needs at least 3")
    table = agreement(rows)
    if as_json:
        for entry in sorted(table, key=lambda a: a.score == GROUNDING):  # the grounding row last
            pearson, spearman = (None if math.isnan(v) else round(v, 4) for v in (entry.pearson, entry.spearman))
            typer.echo(json.dumps({"score": entry.score, "n": entry.n, "pearson": pearson, "spearman": spearman}))
        return
    typer.echo(f"{'score':24} {'n':>5} {'pearson':>8} {'spearman':>8}")
    for entry in table:
        typer.echo(f"{entry.score:24} {entry.n:>5} {entry.pearson:>8.3f} {entry.spearman:>8.3f}")
