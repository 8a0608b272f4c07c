"""The summary options as ``docsum summarize`` and ``docsum batch`` flags, built from ``models.options``.

Each flag takes its name, bounds, choices and help from the option's one definition, so
the CLI takes every option the HTTP API takes, with the same bounds
(``tests/service/test_cli_options.py`` checks both against ``models.options``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any

import typer

from models.errors import InvalidOption
from models.options import OPTIONS, OptionSpec, check_options
from models.types import SummaryOptions
from service.cli_common import fail

_FOR = {"all": "", "seq2seq": " (seq2seq)", "extractive": " (extractive)", "instruct": " (instruct)"}


def _choice(spec: OptionSpec) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value not in spec.choices:
            raise typer.BadParameter(f"must be one of {', '.join(spec.choices)}")
        return value

    return parse


def flag(name: str) -> Any:
    """The typer option of one ``SummaryOptions`` field."""
    spec = OPTIONS[name]
    text = spec.help + _FOR[spec.applies_to]
    if spec.kind == "switch":
        return typer.Option(f"{spec.flag}/--no-{spec.flag[2:]}", help=text, show_default=False)
    if spec.kind == "choice":
        return typer.Option(spec.flag, help=f"{text} One of: {', '.join(spec.choices)}.", parser=_choice(spec))
    if spec.kind == "text":
        return typer.Option(spec.flag, help=text, show_default=False)
    return typer.Option(spec.flag, min=spec.minimum, max=spec.maximum, help=text, show_default=False)


Length = Annotated[str | None, flag("length")]
MaxTokens = Annotated[int | None, flag("max_tokens")]
MinTokens = Annotated[int | None, flag("min_tokens")]
NumBeams = Annotated[int | None, flag("num_beams")]
LengthPenalty = Annotated[float | None, flag("length_penalty")]
NoRepeatNgramSize = Annotated[int | None, flag("no_repeat_ngram_size")]
Sentences = Annotated[int | None, flag("sentences")]
Format = Annotated[str, flag("format")]
Query = Annotated[str | None, flag("query")]
Truncation = Annotated[str, flag("truncation")]
Grounding = Annotated[bool | None, flag("grounding")]
Language = Annotated[str | None, flag("language")]
Temperature = Annotated[float | None, flag("temperature")]
Seed = Annotated[int | None, flag("seed")]


def options_or_exit(flags: Mapping[str, Any]) -> SummaryOptions:
    """The summary options among a command's flags (pass its ``locals()``: other names are ignored), checked
    against their bounds; exit 2 naming the flag at fault."""
    try:
        options = SummaryOptions(**{name: flags[name] for name in OPTIONS if name in flags})
        check_options(options)
    except InvalidOption as exc:
        name = OPTIONS[exc.param].flag if exc.param in OPTIONS else "an option"
        fail(f"{name}: {exc.message}")
    return options
