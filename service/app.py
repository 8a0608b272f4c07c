"""The application factory: ``create_app(settings)`` builds everything from one Settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from opentelemetry import trace

from models.catalog import ModelRegistry, default_loader, probe_source
from models.errors import ModelError
from service import __version__
from service.deps import AppContext, install_context
from service.disconnect import CancelOnDisconnectMiddleware
from service.engine import Engine
from service.errors import install_error_handlers
from service.features.ground.router import router as ground_router
from service.features.ground.serving import GroundServing
from service.features.health.router import router as health_router
from service.features.jobs.router import router as jobs_router
from service.features.jobs.serving import JobsServing
from service.features.jobs.stats import count_jobs
from service.features.jobs.store import JobStore
from service.features.jobs.webhook_policy import WebhookPolicy
from service.features.jobs.webhooks import WebhookSender, WebhookSettings
from service.features.jobs.worker import JobWorker
from service.features.metrics.router import router as metrics_router
from service.features.models.router import router as models_router
from service.features.models.serving import ModelsServing
from service.features.page.router import install_page
from service.features.summarize.router import router as summarize_router
from service.features.summarize.serving import SummarizeServing
from service.lifecycle import BodyTimeoutMiddleware, Lifecycle, LifecycleMiddleware
from service.middleware import BodySizeLimitMiddleware, HeaderSizeLimitMiddleware, RequestIdMiddleware
from service.observability.http import ObservedMiddleware
from service.observability.metrics import Metrics, StateCollector
from service.observability.telemetry import Telemetry
from service.observability.tracing import Tracing, build_tracing
from service.openapi import install_openapi
from service.settings import Settings

logger = logging.getLogger(__name__)

VERSION = __version__


def create_app(
    settings: Settings | None = None, registry: ModelRegistry | None = None, tracer: trace.Tracer | None = None
) -> FastAPI:
    """Build the service. ``registry`` replaces the catalog-built one (tests inject fakes); ``tracer``
    the one ``DOCSUM_OTLP_ENDPOINT`` builds (tests record spans in memory)."""
    settings = settings or Settings()
    tracing = Tracing(tracer, lambda: None) if tracer else build_tracing(settings.otlp_endpoint, VERSION)
    context = build_context(settings, registry, Telemetry(Metrics() if settings.metrics else None, tracing.tracer))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the default model in the background: /health answers at once, /ready once it is loaded.
        preload = asyncio.create_task(_preload(context.engine, settings.default_model))
        context.job_worker.start()  # jobs left by an earlier run (or another replica) carry on by themselves
        try:
            yield
        finally:
            preload.cancel()
            await context.job_worker.stop()
            context.engine.close()
            context.job_store.close()
            tracing.shutdown()  # the spans still buffered go out

    app = FastAPI(
        title="docsum",
        version=VERSION,
        summary="Summaries of long documents: extractive and Hugging Face seq2seq models.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from features/page, with their assets served locally
        redoc_url=None,
    )
    install_context(app, context)
    install_error_handlers(app)
    install_openapi(app)
    for router in (summarize_router, ground_router, jobs_router, models_router, health_router):
        app.include_router(router)
    if context.metrics is not None:
        app.include_router(metrics_router)
    install_page(app)
    # Outermost last: the request id exists before the size check can refuse.
    app.add_middleware(CancelOnDisconnectMiddleware)  # a client that leaves takes its queued work along
    app.add_middleware(BodyTimeoutMiddleware, timeout=settings.body_timeout_seconds)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={"/v1/jobs": settings.max_job_body_bytes},
    )
    app.add_middleware(HeaderSizeLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(LifecycleMiddleware, lifecycle=context.lifecycle)  # SIGTERM drains (service.lifecycle)
    # Inside the request id, outside everything that may refuse: every answer is timed, counted and traced.
    app.add_middleware(ObservedMiddleware, metrics=context.metrics, tracer=tracing.tracer)
    app.add_middleware(RequestIdMiddleware)
    return app


def build_context(
    settings: Settings, registry: ModelRegistry | None = None, telemetry: Telemetry | None = None
) -> AppContext:
    """The engine, the job store and worker, and each feature's serving, built once."""
    telemetry = telemetry or Telemetry()
    registry = registry or ModelRegistry(
        settings.catalog(),
        default_loader(settings.load_settings()),
        probe_source,
        loadable=settings.loadable_models(),
        residency=settings.residency(),
    )
    registry.spec(settings.default_model)  # fail at start-up, not on the first request
    engine = Engine(
        registry,
        batch_size=settings.batch_size,
        max_chars=settings.max_document_chars,
        batch_tokens=settings.batch_tokens,
        batch_wait_ms=settings.batch_wait_ms,
        queue_size=settings.queue_size,
        batch_share=settings.batch_share,
        telemetry=telemetry,
    )
    store = JobStore(
        settings.store_url(),
        lease_seconds=settings.job_lease_seconds,
        retention_seconds=settings.job_retention_hours * 3600,
        unserved_seconds=settings.job_unserved_hours * 3600,
    )
    policy = WebhookPolicy(settings.webhook_hosts)
    sender = None
    if settings.webhook_secret is not None and policy.enabled:
        webhook_settings = WebhookSettings(
            settings.webhook_secret.get_secret_value(),
            attempts=settings.webhook_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            timeout_seconds=settings.webhook_timeout_seconds,
        )
        sender = WebhookSender(store.database, policy, webhook_settings)
    worker = JobWorker(store, engine, claim_size=settings.batch_size, webhooks=sender)
    if telemetry.metrics is not None:
        telemetry.metrics.watch(
            StateCollector(
                queued=lambda: {name: engine.queued(name) for name in registry.names},
                loaded=lambda: {name: registry.is_loaded(name) for name in registry.names},
                jobs=lambda: count_jobs(store),
            )
        )
    return AppContext(
        settings=settings,
        engine=engine,
        lifecycle=Lifecycle(),
        job_store=store,
        job_worker=worker,
        summarize=SummarizeServing(engine, settings),
        ground=GroundServing(engine, settings),
        jobs=JobsServing(store, worker, engine, settings, policy),
        models=ModelsServing(registry, settings.default_model),
        metrics=telemetry.metrics,
    )


async def _preload(engine: Engine, model: str) -> None:
    try:
        await engine.load(model)
    except ModelError as exc:
        logger.error("default model %r did not load: %s", model, exc.message)
