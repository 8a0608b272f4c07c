from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from models.catalog import BUILTIN_MODELS, ModelRegistry, default_loader, probe_source
from models.loading import LoadSettings
from service.app import create_app
from service.settings import Settings
from tests.fakes import FakeSummarizer


@pytest.fixture
def fake() -> FakeSummarizer:
    return FakeSummarizer()


@pytest.fixture
def registry(fake: FakeSummarizer) -> ModelRegistry:
    registry = ModelRegistry(BUILTIN_MODELS, default_loader(LoadSettings()), probe_source)
    registry.add(fake)
    return registry


@pytest.fixture
def settings() -> Settings:
    return Settings(default_model="fake", max_document_chars=2_000, max_batch_documents=5, max_body_bytes=20_000)


@pytest.fixture
def client(settings: Settings, registry: ModelRegistry) -> Iterator[TestClient]:
    with TestClient(create_app(settings, registry), raise_server_exceptions=False) as client:
        yield client
