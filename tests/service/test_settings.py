from __future__ import annotations

import pytest
from pydantic import ValidationError

from service.settings import Settings


def test_defaults() -> None:
    settings = Settings()
    assert (settings.host, settings.port, settings.default_model) == ("127.0.0.1", 8000, "extractive")
    assert settings.max_document_chars >= 200_000


@pytest.mark.parametrize(
    "value",
    ["a=org/a,b=org/b@main", '["a=org/a", "b=org/b@main"]', '{"a": "org/a", "b": "org/b@main"}'],
)
def test_models_from_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("DOCSUM_MODELS", value)
    catalog = Settings().catalog()
    assert catalog["a"].source == "org/a"
    assert (catalog["b"].source, catalog["b"].revision) == ("org/b", "main")


def test_environment_prefix_and_validation(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCSUM_PORT", "9001")
    monkeypatch.setenv("DOCSUM_BATCH_SIZE", "16")
    assert (Settings().port, Settings().batch_size) == (9001, 16)
    monkeypatch.setenv("DOCSUM_MODELS", "not-an-entry")
    with pytest.raises(ValidationError):
        Settings()
