"""``docsum ground``: check a summary against its source, whoever wrote it (models.grounding)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from models.grounding import Grounding, ground
from service.cli_common import fail, read_text


def ground_command(
    source: Annotated[str, typer.Argument(help="The source document: a text file, or - for standard input.")],
    summary: Annotated[str, typer.Argument(help="The summary to check: a text file, or - for standard input.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print what POST /v1/ground answers.")] = False,
) -> None:
    """Evidence in SOURCE for each sentence of SUMMARY, what SOURCE does not support, and a consistency score."""

    if source == "-" and summary == "-":
        fail("only one of SOURCE and SUMMARY can be standard input")
    texts = [sys.stdin.read() if name == "-" else read_text(Path(name)) for name in (source, summary)]
    if not texts[0].strip():
        fail("the source has no text")
    grounding = ground(texts[0], texts[1])
    typer.echo(json.dumps(grounding.to_dict(), ensure_ascii=False, indent=2) if as_json else _report(grounding))


def _report(grounding: Grounding) -> str:
    """One line per summary sentence: how well it is supported, and what the source lacks."""
    lines = [f"consistency {grounding.consistency:.2f}"]
    for sentence in grounding.sentences:
        flags = ", ".join(f"{span.text!r} ({span.kind})" for span in sentence.unsupported)
        lines.append(f"{sentence.supported:.2f}  {sentence.text}")
        if flags:
            lines.append(f"      not in the source: {flags}")
    return "\n".join(lines)
