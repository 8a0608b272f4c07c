"""The application factory: ``create_app(settings)`` builds everything from one Settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Depends, FastAPI
from opentelemetry import trace

from models.catalog import ModelRegistry, default_loader, probe_source
from models.errors import ModelError
from service import __version__
from service.auth.gate import build_gate, configured_keys, require_caller
from service.auth.headers import RateLimitHeadersMiddleware
from service.auth.origin import OriginGuardMiddleware, install_cors
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
from service.features.page.router import docs_visibility, install_page
from service.features.protocol import error_responses
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
    settings: Settings | None = None,
    registry: ModelRegistry | None = None,
    *,
    tracer: trace.Tracer | None = None,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the service. ``registry`` replaces the catalog-built one (tests inject fakes); ``tracer``
    the one ``DOCSUM_OTLP_ENDPOINT`` builds (tests record spans in memory); ``clock`` (Unix seconds) is
    the one the per-key limits count windows with (tests pass their own)."""
    settings = settings or Settings()
    tracing = Tracing(tracer, lambda: None) if tracer else build_tracing(settings.otlp_endpoint, VERSION)
    telemetry = Telemetry(Metrics() if settings.metrics else None, tracing.tracer)
    context = build_context(settings, registry, telemetry, clock)

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

    docs = docs_visibility(settings.api_docs, context.gate.mode)
    app = FastAPI(
        title="docsum",
        version=VERSION,
        summary="Summaries of long documents: extractive and Hugging Face seq2seq models.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from features/page, with their assets served locally
        redoc_url=None,
        openapi_url="/openapi.json" if docs == "public" else None,
    )
    install_context(app, context)
    install_error_handlers(app)
    install_openapi(app, behind_keys=docs == "keys")
    # Every route asks for a caller (a key, then its limits), but /health, /ready and the page: probes and
    # browsers carry no key (the page sends the key its user types).
    checked = [Depends(require_caller)]
    for router in (summarize_router, ground_router, jobs_router, models_router):
        app.include_router(router, dependencies=checked, responses=error_responses(401, 429))
    if context.metrics is not None:
        app.include_router(metrics_router, dependencies=checked, responses=error_responses(401, 429))
    app.include_router(health_router)
    install_page(app, docs=docs)
    _install_middleware(app, settings, context, tracing.tracer)
    return app


def _install_middleware(app: FastAPI, settings: Settings, context: AppContext, tracer: trace.Tracer) -> None:
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
    app.add_middleware(RateLimitHeadersMiddleware)
    install_cors(app, settings.cors_origins)  # outside the rest: errors carry CORS fields too
    app.add_middleware(OriginGuardMiddleware, allowed=settings.cors_origins)
    # Inside the request id, outside everything that may refuse: every answer is timed, counted and traced.
    app.add_middleware(ObservedMiddleware, metrics=context.metrics, tracer=tracer)
    app.add_middleware(RequestIdMiddleware)


def build_context(
    settings: Settings,
    registry: ModelRegistry | None = None,
    telemetry: Telemetry | None = None,
    clock: Callable[[], float] = time.time,
) -> AppContext:
    """The engine, the job store and worker, the gate (keys, limits), and each feature's serving, built once."""
    keys = configured_keys(settings)  # bad auth settings stop the start before anything runs
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
    sender = _webhook_sender(settings, store, policy)
    worker = JobWorker(store, engine, claim_size=settings.batch_size, webhooks=sender)
    if telemetry.metrics is not None:
        telemetry.metrics.watch(
            StateCollector(
                queued=lambda: {name: engine.queued(name) for name in registry.names},
                loaded=lambda: {name: registry.is_loaded(name) for name in registry.names},
                jobs=lambda: count_jobs(store),
            )
        )
    # Limits are counted in the job store's database: replicas sharing it share them (service.auth.limits).
    gate = build_gate(keys, settings, store.database, clock)
    return AppContext(
        settings=settings,
        engine=engine,
        lifecycle=Lifecycle(),
        job_store=store,
        job_worker=worker,
        summarize=SummarizeServing(engine, settings),
        ground=GroundServing(engine, settings),
        jobs=JobsServing(store, worker, engine, settings, policy),
        models=ModelsServing(registry, settings.default_model, show_paths=settings.expose_model_paths),
        metrics=telemetry.metrics,
        gate=gate,
    )


def _webhook_sender(settings: Settings, store: JobStore, policy: WebhookPolicy) -> WebhookSender | None:
    """What calls job webhooks, when the allow-list names hosts (the secret then exists: settings check it)."""
    if settings.webhook_secret is None or not policy.enabled:
        return None
    webhook_settings = WebhookSettings(
        settings.webhook_secret.get_secret_value(),
        attempts=settings.webhook_attempts,
        backoff_seconds=settings.webhook_backoff_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    return WebhookSender(store.database, policy, webhook_settings)


async def _preload(engine: Engine, model: str) -> None:
    try:
        await engine.load(model)
    except ModelError as exc:
        logger.error("default model %r did not load: %s", model, exc.message)
