"""The ``docsum`` command: serve, summarize, batch, models, submit (a job on a server)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from tqdm import tqdm

from models.catalog import parse_model_entry, probe_source
from models.errors import ModelError
from models.inputs import InputError
from models.types import ProgressEvent, SummaryEvent, TokenEvent
from service import __version__
from service.auth.gate import AuthConfigError
from service.cli_common import cli_settings, fail, load_summarizer, loaded_line, read_document
from service.cli_convert import convert
from service.cli_eval import evaluate_command
from service.cli_ground import ground_command
from service.cli_keys import keys_app
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
    options_or_exit,
)
from service.cli_submit import submit_command
from service.features.jobs.batchfile import count_entries, run_batch
from service.features.summarize.protocol import SummarizeResponse
from service.features.summarize.source import Source
from service.ray_batch import RayCluster, ray_missing, run_ray_batch
from service.settings import Settings

app = typer.Typer(help="docsum: summaries of long documents.", no_args_is_help=True, add_completion=False)

ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="Catalog name, local directory or hub id.", show_default=False)
]
BatchSize = Annotated[int | None, typer.Option(min=1, help="Documents per model call.")]


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"docsum {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """docsum: summaries of long documents."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", help="Add a catalog entry NAME=SOURCE[@REVISION]; repeatable.")
    ] = None,
    default_model: Annotated[str | None, typer.Option(help="Catalog name used when a request names none.")] = None,
) -> None:
    """Run the HTTP service."""
    import uvicorn

    from service.app import create_app
    from service.deps import context_of
    from service.lifecycle import CUT_SECONDS, DrainingServer

    base = cli_settings()
    for entry in model or []:
        _parse_or_exit(entry)
    update: dict[str, object] = {"models": (*base.models, *(model or []))}
    for key, value in (("host", host), ("port", port), ("default_model", default_model)):
        if value is not None:
            update[key] = value
    settings = Settings(**{**base.model_dump(), **update})
    try:
        application = create_app(settings)
    except ModelError as exc:
        fail(exc.message)
    except AuthConfigError as exc:  # no keys on a network address, a bad key file, contradictory settings
        fail(str(exc))
    typer.echo(f"docsum serving on http://{settings.host}:{settings.port} (the page at /, API docs at /docs)", err=True)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_config=None,  # uvicorn's lines go through docsum's handler: its format, with request ids
        server_header=False,  # no `server: uvicorn`: nothing to tell strangers
        timeout_graceful_shutdown=CUT_SECONDS,  # after the drain: what still runs is cut
    )
    DrainingServer(config, context_of(application).lifecycle, settings.drain_seconds).run()


@app.command()
def summarize(
    file: Annotated[
        str,
        typer.Argument(help="A document (PDF, DOCX, HTML, Markdown, text, e-mail), or - for text on standard input."),
    ] = "-",
    model: ModelOption = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    num_beams: NumBeams = None,
    length_penalty: LengthPenalty = None,
    no_repeat_ngram_size: NoRepeatNgramSize = None,
    sentences: Sentences = None,
    length: Length = None,
    format: Format = "paragraph",
    query: Query = None,
    batch_size: BatchSize = None,  # one document is one batch; accepted so scripts can share options
    truncation: Truncation = "chunk",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole response as JSON.")] = False,
    stream: Annotated[bool, typer.Option(help="Print text as it is generated, and chunk progress on stderr.")] = False,
    grounding: Grounding = None,
    language: Language = None,
    temperature: Temperature = None,
    seed: Seed = None,
    include_text: Annotated[
        bool, typer.Option("--include-text", help="With --json: the text every offset points into, as `text`.")
    ] = False,
) -> None:
    """Summarize one document and print the summary."""
    source = Source(sys.stdin.read(), include_text) if file == "-" else read_document(Path(file), include_text)
    text = source.text
    options = options_or_exit(locals())  # the summary options among the flags (models/options.py)
    summarizer = load_summarizer(model)
    printer = _StreamPrinter() if stream and not as_json else None
    try:
        summarizer.check_options(options)
        [summary] = summarizer.summarize([text], options, on_event=printer)
    except ModelError as exc:
        fail(exc.message)
    if printer is not None and printer.streamed_text:
        typer.echo("")  # end the streamed line
        if options.format == "paragraph":
            return  # the summary is on screen already
    if as_json:
        typer.echo(SummarizeResponse.build(summary, summarizer.name, options, source).model_dump_json(indent=2))
    else:
        typer.echo(summary.summary)


@app.command()
def batch(
    source: Annotated[
        Path,
        typer.Argument(
            help="Input JSONL: {id, text} per line (document also accepted); or .csv: a header with text, id optional; "
            "or a folder of documents (PDF, DOCX, HTML, Markdown, text, e-mail), each keyed by its path under it."
        ),
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output JSONL, one result per input record.")],
    model: ModelOption = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    num_beams: NumBeams = None,
    length_penalty: LengthPenalty = None,
    no_repeat_ngram_size: NoRepeatNgramSize = None,
    sentences: Sentences = None,
    length: Length = None,
    format: Format = "paragraph",
    query: Query = None,
    batch_size: BatchSize = None,
    truncation: Truncation = "chunk",
    grounding: Grounding = None,
    language: Language = None,
    temperature: Temperature = None,
    seed: Seed = None,
    resume: Annotated[bool, typer.Option(help="Skip ids already in OUTPUT and append the rest.")] = False,
    force: Annotated[bool, typer.Option("--force", "-f", help="Overwrite OUTPUT if it holds anything.")] = False,
    engine: Annotated[
        str, typer.Option(help="local (this process) or ray (Ray Data actors, one model each: docs/scaling.md).")
    ] = "local",
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster to join (auto, HOST:PORT); default: a local Ray for this run.", show_default=False
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Ray workers (model replicas); default: as many as the GPUs, or CPUs, fit.", show_default=False
        ),
    ] = None,
    gpus_per_worker: Annotated[
        float | None,
        typer.Option(
            min=0,
            help="GPUs per Ray worker; default: 1 where the cluster has GPUs (seq2seq), else 0.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Summarize a JSONL (or CSV) file, or a folder of documents; exits 1 if any document failed."""
    if not source.is_file() and not source.is_dir():
        fail(f"no input file or folder at {source}")
    _check_output(output, resume, force)
    _check_engine(engine, ray_address is not None or workers is not None or gpus_per_worker is not None)
    settings = cli_settings()
    options = options_or_exit(locals())  # the summary options among the flags (models/options.py)
    started = time.perf_counter()
    summarizer = load_summarizer(model) if engine == "local" else None  # on Ray, every worker loads its own
    if summarizer is not None:
        typer.echo(f"{loaded_line(summarizer)} in {time.perf_counter() - started:.1f} s", err=True)
    with tqdm(total=count_entries(source), unit="doc", desc="summarizing", file=sys.stderr) as bar:
        try:
            if summarizer is None:
                outcome = run_ray_batch(
                    model or settings.default_model,
                    settings,
                    source,
                    output,
                    options,
                    batch_size=batch_size or settings.batch_size,
                    resume=resume,
                    cluster=RayCluster(ray_address, workers, gpus_per_worker),
                    progress=bar,
                )
            else:
                outcome = run_batch(
                    summarizer,
                    source,
                    output,
                    options,
                    batch_size=batch_size or settings.batch_size,
                    max_chars=settings.max_document_chars,
                    resume=resume,
                    progress=bar,
                    batch_tokens=settings.batch_tokens,
                )
        except ModelError as exc:  # RayEngineError too: no cluster, or a worker that cannot load the model
            fail(exc.message)
        except InputError as exc:  # a file its format cannot read at all (a CSV header without a text column)
            fail(f"{source}: {exc}")
        bar.update(outcome.skipped)
    typer.echo(f"{outcome.written} written, {outcome.failed} failed, {outcome.skipped} already done", err=True)
    raise typer.Exit(1 if outcome.failed else 0)


@app.command("models")
def list_models() -> None:
    """List the catalog and whether each model can load here."""
    settings = cli_settings()
    rows = []
    for spec in settings.catalog().values():
        reason = probe_source(spec)
        default = " (default)" if spec.name == settings.default_model else ""
        rows.append((spec.name + default, spec.kind, spec.source, "unavailable: " + reason if reason else "available"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])


app.command("convert")(convert)
app.add_typer(keys_app, name="keys")
app.command("ground")(ground_command)
app.command("eval")(evaluate_command)
app.command("submit")(submit_command)


def main() -> None:
    app()


def _check_output(output: Path, resume: bool, force: bool) -> None:
    """Never overwrite results by accident: a non-empty OUTPUT needs --resume or --force."""
    if resume and force:
        fail("--resume keeps OUTPUT and --force overwrites it: choose one")
    if not resume and not force and output.is_file() and output.stat().st_size > 0:
        fail(f"{output} exists and is not empty: --resume carries on from it, --force (-f) overwrites it")


def _check_engine(engine: str, ray_options: bool) -> None:
    """``--engine`` is local or ray, the Ray options go with ray, and Ray is installed for it."""
    if engine not in ("local", "ray"):
        fail("--engine must be local or ray")
    if engine == "local" and ray_options:
        fail("--ray-address, --workers and --gpus-per-worker need --engine ray")
    if engine == "ray" and (reason := ray_missing()) is not None:
        fail(reason)


class _StreamPrinter:
    """``--stream``: generated text to stdout as it comes, chunk progress to stderr."""

    def __init__(self) -> None:
        self.streamed_text = False

    def __call__(self, event: SummaryEvent) -> None:
        if isinstance(event, TokenEvent):
            self.streamed_text = True
            sys.stdout.write(event.text)
            sys.stdout.flush()
        elif isinstance(event, ProgressEvent):
            stage = "map" if event.round == 0 else f"reduce {event.round}"
            typer.echo(f"{stage}: chunk {event.done}/{event.total}", err=True)


def _parse_or_exit(entry: str) -> None:
    try:
        parse_model_entry(entry)
    except ValueError as exc:
        fail(str(exc))
