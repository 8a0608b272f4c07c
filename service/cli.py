"""The ``docsum`` command: serve, summarize, batch, models."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Annotated, Literal, NoReturn

import typer
from tqdm import tqdm

from models.acceleration import NOT_APPLICABLE, Acceleration
from models.catalog import load_by_name_or_source, parse_model_entry, probe_source
from models.errors import ModelError
from models.types import ProgressEvent, Summarizer, SummaryEvent, SummaryOptions, TokenEvent
from service import __version__
from service.cli_convert import convert
from service.cli_eval import evaluate_command
from service.cli_ground import ground_command
from service.features.jobs.batchfile import count_lines, run_batch
from service.features.summarize.protocol import SummarizeResponse
from service.ray_batch import RayCluster, RayEngineError, ray_missing, run_ray_batch
from service.settings import Settings

app = typer.Typer(help="docsum: summaries of long documents.", no_args_is_help=True, add_completion=False)

ModelOption = Annotated[
    str | None, typer.Option("--model", "-m", help="Catalog name, local directory or hub id.", show_default=False)
]
MaxTokens = Annotated[int | None, typer.Option(min=1, help="Most output tokens (words for extractive).")]
MinTokens = Annotated[int | None, typer.Option(min=0, help="Fewest output tokens (words for extractive).")]
NumBeams = Annotated[int | None, typer.Option(min=1, help="Beam search width (seq2seq).")]
Sentences = Annotated[int | None, typer.Option(min=1, help="Exact sentence count (extractive).")]
Length = Annotated[str | None, typer.Option(help="Length preset: short, medium or long.")]
Format = Annotated[str, typer.Option("--format", help="paragraph or bullets.")]
Query = Annotated[str | None, typer.Option(help="Favour sentences relevant to this (extractive).")]
BatchSize = Annotated[int | None, typer.Option(min=1, help="Documents per model call.")]
Truncation = Annotated[
    str, typer.Option(help="Input over the model's window: chunk (map-reduce), head (cut), or error.")
]
Grounding = Annotated[
    bool | None,
    typer.Option(
        "--grounding/--no-grounding",
        help="Evidence for each sentence a model writes, in --json output (default: on for seq2seq).",
        show_default=False,
    ),
]


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

    base = _settings()
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
        _fail(exc.message)
    typer.echo(f"docsum serving on http://{settings.host}:{settings.port} (docs at /docs)", err=True)
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        timeout_graceful_shutdown=CUT_SECONDS,  # after the drain: what still runs is cut
    )
    DrainingServer(config, context_of(application).lifecycle, settings.drain_seconds).run()


@app.command()
def summarize(
    file: Annotated[str, typer.Argument(help="A text file, or - for standard input.")] = "-",
    model: ModelOption = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    num_beams: NumBeams = None,
    sentences: Sentences = None,
    length: Length = None,
    format: Format = "paragraph",
    query: Query = None,
    batch_size: BatchSize = None,  # one document is one batch; accepted so scripts can share options
    truncation: Truncation = "chunk",
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole response as JSON.")] = False,
    stream: Annotated[bool, typer.Option(help="Print text as it is generated, and chunk progress on stderr.")] = False,
    grounding: Grounding = None,
) -> None:
    """Summarize one document and print the summary."""
    text = sys.stdin.read() if file == "-" else _read_text(Path(file))
    options = _options(max_tokens, min_tokens, num_beams, sentences, length, format, query, truncation, grounding)
    summarizer = _load(model)
    printer = _StreamPrinter() if stream and not as_json else None
    try:
        summarizer.check_options(options)
        [summary] = summarizer.summarize([text], options, on_event=printer)
    except ModelError as exc:
        _fail(exc.message)
    if printer is not None and printer.streamed_text:
        typer.echo("")  # end the streamed line
        if options.format == "paragraph":
            return  # the summary is on screen already
    if as_json:
        typer.echo(SummarizeResponse.build(summary, summarizer.name, options).model_dump_json(indent=2))
    else:
        typer.echo(summary.summary)


@app.command()
def batch(
    source: Annotated[Path, typer.Argument(help="Input JSONL: {id, text} per line (document also accepted).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Output JSONL, one result per input line.")],
    model: ModelOption = None,
    max_tokens: MaxTokens = None,
    min_tokens: MinTokens = None,
    num_beams: NumBeams = None,
    sentences: Sentences = None,
    length: Length = None,
    format: Format = "paragraph",
    query: Query = None,
    batch_size: BatchSize = None,
    truncation: Truncation = "chunk",
    grounding: Grounding = None,
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
    """Summarize a JSONL file; exits 1 if any document failed."""
    if not source.is_file():
        _fail(f"no input file at {source}")
    _check_output(output, resume, force)
    if engine not in ("local", "ray"):
        _fail("--engine must be local or ray")
    if engine == "local" and (ray_address is not None or workers is not None or gpus_per_worker is not None):
        _fail("--ray-address, --workers and --gpus-per-worker need --engine ray")
    if engine == "ray" and (reason := ray_missing()) is not None:
        _fail(reason)
    settings = _settings()
    options = _options(max_tokens, min_tokens, num_beams, sentences, length, format, query, truncation, grounding)
    started = time.perf_counter()
    summarizer = _load(model) if engine == "local" else None  # on Ray, every worker loads its own
    if summarizer is not None:
        typer.echo(f"{_loaded_line(summarizer)} in {time.perf_counter() - started:.1f} s", err=True)
    with tqdm(total=count_lines(source), unit="doc", desc="summarizing", file=sys.stderr) as bar:
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
        except ModelError as exc:
            _fail(exc.message)
        except RayEngineError as exc:
            _fail(str(exc))
        bar.update(outcome.skipped)
    typer.echo(f"{outcome.written} written, {outcome.failed} failed, {outcome.skipped} already done", err=True)
    raise typer.Exit(1 if outcome.failed else 0)


@app.command("models")
def list_models() -> None:
    """List the catalog and whether each model can load here."""
    settings = _settings()
    rows = []
    for spec in settings.catalog().values():
        reason = probe_source(spec)
        default = " (default)" if spec.name == settings.default_model else ""
        rows.append((spec.name + default, spec.kind, spec.source, "unavailable: " + reason if reason else "available"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])


app.command("convert")(convert)
app.command("ground")(ground_command)
app.command("eval")(evaluate_command)


def main() -> None:
    app()


def _check_output(output: Path, resume: bool, force: bool) -> None:
    """Never overwrite results by accident: a non-empty OUTPUT needs --resume or --force."""
    if resume and force:
        _fail("--resume keeps OUTPUT and --force overwrites it: choose one")
    if not resume and not force and output.is_file() and output.stat().st_size > 0:
        _fail(f"{output} exists and is not empty: --resume carries on from it, --force (-f) overwrites it")


def _settings() -> Settings:
    try:
        settings = Settings()
    except ValueError as exc:
        _fail(f"invalid DOCSUM_* setting: {exc}")
    logging.basicConfig(level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    return settings


def _load(model: str | None) -> Summarizer:
    """A catalog name, or (unlike over HTTP) a local directory or hub id."""
    settings = _settings()
    try:
        return load_by_name_or_source(model or settings.default_model, settings.catalog(), settings.load_settings())
    except ModelError as exc:
        _fail(exc.message)


def _loaded_line(summarizer: Summarizer) -> str:
    """Which speed paths the model runs (models.acceleration), for the operator's eye."""
    acceleration: Acceleration = getattr(summarizer, "acceleration", NOT_APPLICABLE)
    if acceleration.accelerated:
        return f"{summarizer.name}: accelerated ({', '.join(acceleration.engaged)}), loaded"
    return f"{summarizer.name}: not accelerated ({acceleration.reason}), loaded"


def _options(
    max_tokens: int | None,
    min_tokens: int | None,
    num_beams: int | None,
    sentences: int | None,
    length: str | None,
    format: str,
    query: str | None,
    truncation: str = "chunk",
    grounding: bool | None = None,
) -> SummaryOptions:
    if length not in (None, "short", "medium", "long"):
        _fail("--length must be short, medium or long")
    if truncation not in ("chunk", "head", "error"):
        _fail("--truncation must be chunk, head or error")
    if format not in ("paragraph", "bullets"):
        _fail("--format must be paragraph or bullets")
    if min_tokens is not None and max_tokens is not None and min_tokens > max_tokens:
        _fail("--min-tokens must not exceed --max-tokens")
    return SummaryOptions(
        length=length,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        min_tokens=min_tokens,
        num_beams=num_beams,
        sentences=sentences,
        format=_format(format),
        query=query,
        truncation=truncation,  # type: ignore[arg-type]
        grounding=grounding,
    )


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


def _format(value: str) -> Literal["paragraph", "bullets"]:
    return "bullets" if value == "bullets" else "paragraph"


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        _fail(f"cannot read {path}: {exc}")


def _parse_or_exit(entry: str) -> None:
    try:
        parse_model_entry(entry)
    except ValueError as exc:
        _fail(str(exc))


def _fail(message: str) -> NoReturn:
    typer.echo(f"docsum: {message}", err=True)
    raise typer.Exit(2)
