"""The CLI flags and the HTTP fields against models.options: every option on both, with the same bounds."""

from __future__ import annotations

from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from models.options import OPTIONS
from service.cli import app
from service.features.summarize.protocol import SummaryParams


def _params(command: str) -> dict[str, Any]:
    """The command's options as typer builds them (typer carries its own click)."""
    group: Any = typer.main.get_command(app)
    return {param.name: param for param in group.commands[command].params}


@pytest.mark.parametrize("command", ["summarize", "batch", "submit"])
def test_every_option_is_a_flag_with_its_bounds(command: str) -> None:
    params = _params(command)
    for spec in OPTIONS.values():
        assert spec.name in params, f"docsum {command} lacks {spec.flag}"
        param = params[spec.name]
        assert spec.flag in param.opts
        if spec.kind in ("int", "float"):
            assert (param.min, param.max) == (spec.minimum, spec.maximum), spec.name


def test_every_option_is_an_http_field_with_its_bounds() -> None:
    properties = SummaryParams.model_json_schema()["properties"]
    for spec in OPTIONS.values():
        assert spec.name in properties, f"the HTTP API lacks {spec.name}"
        field = properties[spec.name]
        variants = field.get("anyOf", [field])
        typed = next(v for v in variants if v.get("type") != "null")
        if spec.kind in ("int", "float"):
            assert (typed.get("minimum"), typed.get("maximum")) == (spec.minimum, spec.maximum), spec.name
        elif spec.kind == "text":
            assert (typed.get("minLength"), typed.get("maxLength")) == (spec.minimum, spec.maximum), spec.name
            assert typed.get("pattern") == spec.pattern, spec.name
        elif spec.kind == "choice":
            assert tuple(typed["enum"]) == spec.choices, spec.name
        else:
            assert typed["type"] == "boolean", spec.name


def test_a_flag_outside_its_bounds_or_choices_is_refused() -> None:
    runner = CliRunner()
    bad = (["--num-beams", "17"], ["--length-penalty", "11"], ["--format", "table"], ["--truncation", "x"])
    for args in (*bad, ["--temperature", "2.5"], ["--seed", "-1"]):
        result = runner.invoke(app, ["summarize", "-", *args], input="Some text.")
        assert result.exit_code == 2, (args, result.output)


@pytest.mark.parametrize("value", ["fr.", "fr CA!", "x" * 41])
def test_a_language_flag_outside_its_pattern_is_refused_as_over_http(value: str) -> None:
    result = CliRunner().invoke(app, ["summarize", "-", "--language", value], input="Some text.")
    assert result.exit_code == 2 and "--language: language must be" in result.output


def test_min_tokens_over_max_tokens_names_the_flag() -> None:
    result = CliRunner().invoke(app, ["summarize", "-", "--max-tokens", "5", "--min-tokens", "9"], input="Text.")
    assert result.exit_code == 2
    assert "--min-tokens: min_tokens must not exceed max_tokens" in result.output
