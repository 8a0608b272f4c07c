"""The README stays true: its first commands, and every setting documented."""

from __future__ import annotations

from pathlib import Path

from service.settings import Settings

README = (Path(__file__).parent.parent / "README.md").read_text()


def test_readme_opens_with_the_two_commands() -> None:
    head = "\n".join(README.splitlines()[:6])
    assert "make serve" in head and "make test" in head


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        assert f"`DOCSUM_{name.upper()}`" in README, name
