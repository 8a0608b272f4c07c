"""docsum keeps the import names ``models`` and ``service`` (docs/architecture.md): a stranger named
``models`` earlier on sys.path is refused at once, with where it was found."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _import_service(path: list[str]) -> subprocess.CompletedProcess[str]:
    code = "import sys; sys.path[:0] = " + repr(path) + "; import service; print('imported', service.__version__)"
    return subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60, cwd="/"
    )


def test_service_imports_with_its_own_models() -> None:
    done = _import_service([str(ROOT)])
    assert done.returncode == 0, done.stderr
    assert "imported" in done.stdout


def test_a_shadowing_models_package_is_refused_by_name(tmp_path: Path) -> None:
    stranger = tmp_path / "models"
    stranger.mkdir()
    (stranger / "__init__.py").write_text("NAME = 'someone else'\n")
    done = _import_service([str(tmp_path), str(ROOT)])
    assert done.returncode != 0
    assert "ImportError" in done.stderr and "not docsum's" in done.stderr
    assert str(stranger) in done.stderr
