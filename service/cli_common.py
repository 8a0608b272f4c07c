"""What every ``docsum`` command shares: failing with a message, the settings, loading a model."""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer

from models.catalog import load_by_name_or_source
from models.documents import DocumentFileError, extract
from models.errors import ModelError
from models.types import Summarizer
from service.features.summarize.source import Source
from service.observability.logs import configure_logging
from service.settings import Settings


def fail(message: str) -> NoReturn:
    """Exit 2 (a usage error) with ``docsum: message`` on stderr."""
    typer.echo(f"docsum: {message}", err=True)
    raise typer.Exit(2)


def cli_settings() -> Settings:
    """The DOCSUM_* settings, logging configured by them; a bad one exits with its message."""
    try:
        settings = Settings()
    except ValueError as exc:
        fail(f"invalid DOCSUM_* setting: {exc}")
    configure_logging(settings.log_level, settings.log_format)
    return settings


def load_summarizer(model: str | None) -> Summarizer:
    """A catalog name, or (unlike over HTTP) a local directory or hub id."""
    settings = cli_settings()
    try:
        return load_by_name_or_source(model or settings.default_model, settings.catalog(), settings.load_settings())
    except ModelError as exc:
        fail(exc.message)


def loaded_line(summarizer: Summarizer) -> str:
    """Which speed paths the model runs (models.acceleration), for the operator's eye."""
    acceleration = summarizer.acceleration
    if acceleration.accelerated:
        return f"{summarizer.name}: accelerated ({', '.join(acceleration.engaged)}), loaded"
    return f"{summarizer.name}: not accelerated ({acceleration.reason}), loaded"


def read_document(path: Path, include_text: bool = False) -> Source:
    """A document file's text (PDF, DOCX, HTML, Markdown, plain text, e-mail), extracted in this process as
    the service extracts an upload; an unreadable one exits with the reason."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"cannot read {path}: {exc}")
    try:
        document = extract(data, path.name, cli_settings().extract_limits())
    except DocumentFileError as exc:
        fail(f"{path}: {exc.message} ({exc.code})")
    return Source(document.text, include_text, document, path.name)


def read_text(path: Path) -> str:
    """A UTF-8 text file's contents; an unreadable one exits with the reason."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"cannot read {path}: {exc}")
