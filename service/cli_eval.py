"""``docsum eval``: ROUGE of a model against references, beside a Lead-3 baseline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from models.errors import ModelError


def evaluate_command(
    data: Annotated[Path, typer.Argument(help='JSONL lines {"id", "document"|"text", "summary", "references"?}.')],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Catalog name, local directory or hub id.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Score only the first N documents.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Most output tokens.")] = None,
    min_tokens: Annotated[int | None, typer.Option(min=0, help="Fewest output tokens.")] = None,
    num_beams: Annotated[int | None, typer.Option(min=1, help="Beam search width (seq2seq).")] = None,
    sentences: Annotated[int | None, typer.Option(min=1, help="Exact sentence count (extractive).")] = None,
    length: Annotated[str | None, typer.Option(help="short, medium or long.")] = None,
    truncation: Annotated[str, typer.Option(help="chunk, head or error.")] = "chunk",
    batch_size: Annotated[int | None, typer.Option(min=1, help="Documents per model call.")] = None,
) -> None:
    """Score a model with ROUGE-1/2/L/Lsum (F1, stemmed) on DATA, beside Lead-3."""
    # Here, not at the top: ROUGE brings nltk, which brings scipy, scikit-learn and pandas
    # (180 MB and 1.3 s), and every other docsum command, `serve` included, imports this module.
    from models.evaluation import evaluate, format_report, load_eval_records
    from service.cli import _fail, _load, _options, _settings

    if not data.is_file():
        _fail(f"no data file at {data}")
    try:
        records = load_eval_records(data, limit)
    except ValueError as exc:
        _fail(str(exc))
    options = _options(max_tokens, min_tokens, num_beams, sentences, length, "paragraph", None, truncation)
    summarizer = _load(model)
    try:
        report = evaluate(summarizer, records, options, batch_size=batch_size or _settings().batch_size)
    except ModelError as exc:
        _fail(exc.message)
    typer.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))
