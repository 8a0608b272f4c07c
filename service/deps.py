"""Typed dependencies: what a route may ask for, built once by ``create_app``.

``create_app`` builds one ``AppContext`` and keeps it on the app with ``install_context``,
the only place that writes ``app.state``; ``context_of`` is the only place that reads it.
Routes take what they need as typed parameters, e.g. ``serving: SummarizeServingDep``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from starlette.applications import Starlette

from service.engine import Engine
from service.features.ground.serving import GroundServing
from service.features.jobs.serving import JobsServing
from service.features.jobs.store import JobStore
from service.features.jobs.worker import JobWorker
from service.features.models.serving import ModelsServing
from service.features.summarize.serving import SummarizeServing
from service.lifecycle import Lifecycle
from service.settings import Settings


@dataclass(frozen=True, slots=True)
class AppContext:
    """Everything one app serves with, made from one ``Settings``."""

    settings: Settings
    engine: Engine
    lifecycle: Lifecycle
    job_store: JobStore
    job_worker: JobWorker
    summarize: SummarizeServing
    ground: GroundServing
    jobs: JobsServing
    models: ModelsServing


def install_context(app: Starlette, context: AppContext) -> None:
    app.state.context = context


def context_of(app: Starlette) -> AppContext:
    context = getattr(app.state, "context", None)
    if not isinstance(context, AppContext):
        raise RuntimeError("the app has no AppContext: build it with service.app.create_app")
    return context


def get_context(request: Request) -> AppContext:
    return context_of(request.app)


def get_settings(request: Request) -> Settings:
    return get_context(request).settings


def get_summarize_serving(request: Request) -> SummarizeServing:
    return get_context(request).summarize


def get_ground_serving(request: Request) -> GroundServing:
    return get_context(request).ground


def get_jobs_serving(request: Request) -> JobsServing:
    return get_context(request).jobs


def get_models_serving(request: Request) -> ModelsServing:
    return get_context(request).models


SettingsDep = Annotated[Settings, Depends(get_settings)]
SummarizeServingDep = Annotated[SummarizeServing, Depends(get_summarize_serving)]
GroundServingDep = Annotated[GroundServing, Depends(get_ground_serving)]
JobsServingDep = Annotated[JobsServing, Depends(get_jobs_serving)]
ModelsServingDep = Annotated[ModelsServing, Depends(get_models_serving)]
