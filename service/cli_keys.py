"""``docsum keys new NAME``: make an API key, print it once, and the line for the key file."""

from __future__ import annotations

from typing import Annotated

import typer

from service.auth.keys import NAME, key_line, new_key
from service.cli_common import fail

keys_app = typer.Typer(help="API keys (DOCSUM_API_KEYS_FILE).", no_args_is_help=True)


@keys_app.command("new")
def new(name: Annotated[str, typer.Argument(help="The key's name: it owns the key's jobs and limits.")]) -> None:
    """Print a new key (shown once: docsum keeps only its hash) and its line for DOCSUM_API_KEYS_FILE."""
    if not NAME.match(name):
        fail("a key's name is 1 to 48 letters, digits, '_', '.' or '-', starting with a letter or digit")
    key = new_key()
    typer.echo(f"key (give it to the caller; it is not stored anywhere): {key}", err=True)
    typer.echo(key)
    typer.echo("line for DOCSUM_API_KEYS_FILE:", err=True)
    typer.echo(key_line(name, key))
