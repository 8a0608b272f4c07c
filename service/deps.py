"""What one app is assembled from: ``create_app`` builds one ``AppContext`` and installs it.

``install_context`` hands each of its objects to ``service.provider``, from which a route
takes what it needs as a typed parameter declared in its own feature (``serving:
SummarizeServingDep``). Features never import this module, which imports them all.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.applications import Starlette

from service.auth.gate import Gate
from service.engine import Engine
from service.features.ground.serving import GroundServing
from service.features.jobs.serving import JobsServing
from service.features.jobs.store import JobStore
from service.features.jobs.worker import JobWorker
from service.features.models.serving import ModelsServing
from service.features.summarize.serving import SummarizeServing
from service.lifecycle import Lifecycle
from service.observability.metrics import Metrics
from service.provider import provide, provided
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
    gate: Gate
    metrics: Metrics | None = None  # None: DOCSUM_METRICS is off


def install_context(app: Starlette, context: AppContext) -> None:
    """Keep the context, and each object in it by type for the features' typed dependencies."""
    provide(app, [context, *(getattr(context, name) for name in AppContext.__slots__)])


def context_of(app: Starlette) -> AppContext:
    return provided(app, AppContext)
