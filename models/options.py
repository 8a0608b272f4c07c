"""What each summary option means and the values it may take: the one definition.

``SummaryOptions`` (``models.types``) carries a request's values; ``OPTIONS`` here
says, for each field, its bounds, its help text and which models take it. The HTTP
fields (``service`` protocol) and the CLI flags (``service.cli``) take their bounds
and help from here, and ``tests/models/test_options.py`` fails if either drifts.
``check_options`` applies the same bounds to callers of the library itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from models.errors import InvalidOption
from models.types import SummaryOptions

AppliesTo = Literal["all", "seq2seq", "extractive", "instruct"]
OptionKind = Literal["int", "float", "text", "choice", "switch"]


@dataclass(frozen=True, slots=True)
class OptionSpec:
    """One field of ``SummaryOptions``: ``minimum``/``maximum`` bound a number (a text's characters),
    ``choices`` are the words a choice may be; ``pattern`` is what a text must match (whole)."""

    name: str
    kind: OptionKind
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    applies_to: AppliesTo = "all"
    pattern: str | None = None
    pattern_means: str = ""  # what a value matching ``pattern`` is, for the refusal

    @property
    def flag(self) -> str:
        """The CLI flag: ``no_repeat_ngram_size`` -> ``--no-repeat-ngram-size``."""
        return "--" + self.name.replace("_", "-")


# Longest output any option may ask for; a model may allow less (its own maximum, unsupported_option).
MAX_OUTPUT_TOKENS = 4096
# A language as a name ("French", "Brazilian Portuguese", "Deutsch") or a BCP-47 tag ("fr", "pt-BR",
# "zh-Hant"): letters first, then letters and digits in words joined by one space or hyphen. No
# punctuation, so the value cannot open a new sentence of instructions in the prompt; 40 characters at most.
LANGUAGE_PATTERN = r"^[^\W\d_][^\W_]*(?:[ -][^\W_]+)*$"
MAX_LANGUAGE_CHARS = 40
MAX_TEMPERATURE = 2.0
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes up to 64 bits; JSON clients keep 63 exact

OPTIONS: dict[str, OptionSpec] = {
    spec.name: spec
    for spec in (
        OptionSpec("length", "choice", "A length preset.", choices=("short", "medium", "long")),
        OptionSpec("max_tokens", "int", "Most tokens (words for extractive) to output.", 1, MAX_OUTPUT_TOKENS),
        OptionSpec(
            "min_tokens",
            "int",
            "Fewest tokens (words for extractive) to output; at most max_tokens.",
            0,
            MAX_OUTPUT_TOKENS,
        ),
        OptionSpec("num_beams", "int", "Beam search width.", 1, 16, applies_to="seq2seq"),
        OptionSpec("length_penalty", "float", "Beam length penalty.", -10, 10, applies_to="seq2seq"),
        OptionSpec("no_repeat_ngram_size", "int", "Block repeated n-grams of this size.", 0, 16, applies_to="seq2seq"),
        OptionSpec("sentences", "int", "Exact sentence count.", 1, 200, applies_to="extractive"),
        OptionSpec(
            "format", "choice", "One paragraph, or one `- ` line per sentence.", choices=("paragraph", "bullets")
        ),
        # Its longest is the operator's to set (the service's max_query_chars): no maximum here.
        OptionSpec(
            "query",
            "text",
            "Favour sentences relevant to this text (extractive); focus the summary on it (instruct).",
            minimum=1,
        ),
        OptionSpec(
            "truncation",
            "choice",
            "Input over the model's window: chunk (map-reduce), head (keep its head) or error (refuse it).",
            choices=("chunk", "head", "error"),
        ),
        OptionSpec(
            "grounding",
            "switch",
            "Evidence for every sentence a model writes, and what the source does not support "
            "(on by default for seq2seq models).",
        ),
        OptionSpec(
            "language",
            "text",
            "Write the summary in this language: a name (French) or a BCP-47 tag (fr, pt-BR); default: the document's.",
            minimum=1,
            maximum=MAX_LANGUAGE_CHARS,
            applies_to="instruct",
            pattern=LANGUAGE_PATTERN,
            pattern_means="a language name or a BCP-47 tag, in letters, digits, spaces and hyphens",
        ),
        OptionSpec(
            "temperature",
            "float",
            "Sample at this temperature; 0 or unset: greedy, the same summary every time.",
            0,
            MAX_TEMPERATURE,
            applies_to="instruct",
        ),
        OptionSpec(
            "seed",
            "int",
            "Seed for sampling: the same seed, document and options give the same summary, alone or in a batch.",
            0,
            MAX_SEED,
            applies_to="instruct",
        ),
    )
}


def check_options(options: SummaryOptions) -> None:
    """Raise ``InvalidOption`` for a value outside its bounds (``query``'s bounds count characters)."""
    for spec in OPTIONS.values():
        value = getattr(options, spec.name)
        if value is None or isinstance(value, bool):
            continue
        if spec.choices and value not in spec.choices:
            raise InvalidOption(f"{spec.name} must be one of {', '.join(spec.choices)}", param=spec.name)
        size = len(value) if spec.kind == "text" else value
        if spec.kind != "choice":
            if spec.minimum is not None and size < spec.minimum:
                raise InvalidOption(f"{spec.name} must be at least {_number(spec.minimum)}", param=spec.name)
            if spec.maximum is not None and size > spec.maximum:
                raise InvalidOption(f"{spec.name} must be at most {_number(spec.maximum)}", param=spec.name)
        if spec.pattern is not None and not re.fullmatch(spec.pattern, value):
            raise InvalidOption(f"{spec.name} must be {spec.pattern_means}", param=spec.name)
    if options.min_tokens is not None and options.max_tokens is not None and options.min_tokens > options.max_tokens:
        raise InvalidOption("min_tokens must not exceed max_tokens", param="min_tokens")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
