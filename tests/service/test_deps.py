"""Routes take typed dependencies; the app keeps what they are built from in one place."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from service.deps import AppContext, context_of

SERVICE = Path(__file__).parents[2] / "service"


def test_only_the_provider_touches_app_state() -> None:
    readers = sorted(
        str(path.relative_to(SERVICE))
        for path in SERVICE.rglob("*.py")
        if re.search(r"\bapp\.state\b", path.read_text())
    )
    assert readers == ["provider.py"]


def test_create_app_keeps_one_context(client: TestClient) -> None:
    context = context_of(client.app)  # type: ignore[arg-type]
    assert isinstance(context, AppContext)
    assert context.summarize.engine is context.engine is context.jobs.engine is context.ground.engine
    assert context.jobs.store is context.job_store and context.jobs.worker is context.job_worker
    assert context.models.registry is context.engine.registry


def test_an_app_without_a_context_says_so() -> None:
    with pytest.raises(RuntimeError, match="no AppContext: build it with service"):
        context_of(FastAPI())
