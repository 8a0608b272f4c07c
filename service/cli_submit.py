"""``docsum submit FILE --url URL``: a job on a running docsum server, through ``service.client``.

Submits the file, follows the job with a progress bar and downloads the results. Interrupted
(Ctrl-C, a lost connection, a killed process), the same command picks up where it stopped: the
job's Idempotency-Key is a digest of the file and the options, so the server hands back the
same job, and the lines already downloaded are kept.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from models.options import OPTIONS
from service.cli_common import fail
from service.cli_options import (
    Format,
    Grounding,
    Language,
    Length,
    LengthPenalty,
    MaxTokens,
    MinTokens,
    NoRepeatNgramSize,
    NumBeams,
    Query,
    Seed,
    Sentences,
    Temperature,
    Truncation,
)
from service.client import Client, DocsumError

_DEFAULTS = {"format": "paragraph", "truncation": "chunk"}


def submit_command(
    source: Annotated[Path, typer.Argument(metavar="FILE", help="JSONL ({id, text} per line) or CSV of documents.")],
    url: Annotated[str, typer.Option(help="The docsum server, e.g. http://127.0.0.1:8000.")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Results JSONL; default: FILE.summaries.jsonl.", show_default=False),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(help="Environment variable holding the API key (never the key itself).", show_default=False),
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="Catalog name on the server.", show_default=False)
    ] = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    num_beams: NumBeams = None,
    length_penalty: LengthPenalty = None,
    no_repeat_ngram_size: NoRepeatNgramSize = None,
    sentences: Sentences = None,
    length: Length = None,
    format: Format = "paragraph",
    query: Query = None,
    truncation: Truncation = "chunk",
    grounding: Grounding = None,
    language: Language = None,
    temperature: Temperature = None,
    seed: Seed = None,
    webhook_url: Annotated[
        str | None, typer.Option(help="Called when the job ends (the server's allow-list applies).", show_default=False)
    ] = None,
    resume: Annotated[
        bool, typer.Option(help="Rejoin the job an earlier run of this command made, and keep downloaded lines.")
    ] = True,
    progress: Annotated[bool, typer.Option(help="Show a progress bar on stderr.")] = True,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between looks at the job.")] = 1.0,
) -> None:
    """Run FILE as a job on a docsum server and download its results; exits 1 if any document failed."""
    if not source.is_file():
        fail(f"no input file at {source}")
    flags = locals()
    options = {name: flags[name] for name in OPTIONS if flags.get(name) not in (None, _DEFAULTS.get(name))}
    output = output or source.with_name(source.stem + ".summaries.jsonl")
    key = _idempotency_key(source, model, options, webhook_url) if resume else None
    try:
        with Client(url, api_key=_api_key(api_key_env)) as client:
            job = client.submit_job(file=source, model=model, idempotency_key=key, webhook_url=webhook_url, **options)
            typer.echo(f"job {job['id']} ({job['status']}, {job['progress']['total']} documents)", err=True)
            job = client.follow(job["id"], progress=progress, interval=interval)
            lines = client.download(job["id"], output, resume=resume)
    except DocsumError as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        typer.echo("docsum: interrupted; run the same command again to resume", err=True)
        raise typer.Exit(130) from None
    failed = job["progress"]["failed"]
    typer.echo(f"job {job['id']} {job['status']}: {lines} results in {output}, {failed} failed", err=True)
    if job["status"] != "succeeded" and job.get("error"):
        typer.echo(f"docsum: {job['error']['code']}: {job['error']['message']}", err=True)
    raise typer.Exit(0 if job["status"] == "succeeded" and not failed else 1)


def _api_key(variable: str | None) -> str | None:
    """The key from the named variable: a key on the command line would show in ps and shell history."""
    if variable is None:
        return None
    key = os.environ.get(variable)
    if not key:
        fail(f"--api-key-env: the environment variable {variable} is not set")
    return key


def _idempotency_key(source: Path, model: str | None, options: dict[str, Any], webhook_url: str | None) -> str:
    digest = hashlib.sha256(json.dumps([model, options, webhook_url], sort_keys=True).encode())
    with source.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return "docsum-submit-" + digest.hexdigest()
