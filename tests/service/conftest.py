from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from models.catalog import BUILTIN_MODELS, ModelRegistry, default_loader, probe_source
from models.loading import LoadSettings
from service.app import create_app
from service.features.jobs.tables import metadata
from service.settings import Settings
from tests.fakes import FakeSummarizer

# Read at import: the autouse fixture clears DOCSUM_* variables before each test.
POSTGRES_URL = os.environ.get("DOCSUM_TEST_POSTGRES_URL")


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


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A job store's URL: an SQLite file, and the PostgreSQL that DOCSUM_TEST_POSTGRES_URL names, emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'jobs.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("DOCSUM_TEST_POSTGRES_URL is not set (.ci/run starts a PostgreSQL and sets it)")
    engine = create_engine(POSTGRES_URL)
    metadata.drop_all(engine)  # every test starts from empty tables
    engine.dispose()
    yield POSTGRES_URL
