"""The shape the code keeps (see docs/architecture.md): no module over 400 lines, no function body over 60."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_MODULE_LINES = 400
MAX_BODY_LINES = 60


def _sources() -> list[Path]:
    return sorted(path for package in ("models", "service") for path in (ROOT / package).rglob("*.py"))


def test_no_module_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n for p in _sources() if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long, f"split these modules: {long}"


def test_no_function_body_is_over_60_lines() -> None:
    """Counted from the first statement after the signature: a command's long list of typed options is not logic."""
    long = {}
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                body = node.end_lineno - node.body[0].lineno + 1
                if body > MAX_BODY_LINES:
                    long[f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"] = body
    assert not long, f"split these functions: {long}"
