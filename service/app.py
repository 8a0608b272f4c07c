"""The application factory: ``create_app(settings)`` builds everything from one Settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Depends, FastAPI

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
from service.features.jobs.store import JobStore
from service.features.jobs.worker import JobWorker
from service.features.models.router import router as models_router
from service.features.models.serving import ModelsServing
from service.features.protocol import error_responses
from service.features.summarize.router import router as summarize_router
from service.features.summarize.serving import SummarizeServing
from service.lifecycle import BodyTimeoutMiddleware, Lifecycle, LifecycleMiddleware
from service.middleware import BodySizeLimitMiddleware, HeaderSizeLimitMiddleware, RequestIdMiddleware
from service.openapi import install_openapi
from service.settings import Settings

logger = logging.getLogger(__name__)

VERSION = __version__


def create_app(
    settings: Settings | None = None,
    registry: ModelRegistry | None = None,
    *,
    clock: Callable[[], float] = time.time,
) -> FastAPI:
    """Build the service. ``registry`` replaces the catalog-built one (tests inject fakes); ``clock``
    (Unix seconds) is the one the per-key limits count windows with (tests pass their own)."""
    settings = settings or Settings()
    context = build_context(settings, registry, clock)

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

    public_docs = settings.api_docs == "public" or (settings.api_docs == "auto" and context.gate.mode == "open")
    app = FastAPI(
        title="docsum",
        version=VERSION,
        summary="Summaries of long documents: extractive and Hugging Face seq2seq models.",
        lifespan=lifespan,
        docs_url="/docs" if public_docs else None,
        redoc_url="/redoc" if public_docs else None,
        openapi_url="/openapi.json" if public_docs else None,
    )
    install_context(app, context)
    install_error_handlers(app)
    install_openapi(app, behind_keys=settings.api_docs != "off" and not public_docs)
    # Every route asks for a caller (a key, then its limits), but /health and /ready: probes carry no key.
    checked = [Depends(require_caller)]
    for router in (summarize_router, ground_router, jobs_router, models_router):
        app.include_router(router, dependencies=checked, responses=error_responses(401, 429))
    app.include_router(health_router)
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
    app.add_middleware(RequestIdMiddleware)
    return app


def build_context(
    settings: Settings, registry: ModelRegistry | None = None, clock: Callable[[], float] = time.time
) -> AppContext:
    """The engine, the job store and worker, the gate (keys, limits), and each feature's serving, built once."""
    keys = configured_keys(settings)  # bad auth settings stop the start before anything runs
    registry = registry or ModelRegistry(settings.catalog(), default_loader(settings.load_settings()), probe_source)
    registry.spec(settings.default_model)  # fail at start-up, not on the first request
    engine = Engine(
        registry,
        batch_size=settings.batch_size,
        max_chars=settings.max_document_chars,
        batch_tokens=settings.batch_tokens,
        batch_wait_ms=settings.batch_wait_ms,
        queue_size=settings.queue_size,
        batch_share=settings.batch_share,
    )
    store = JobStore(
        settings.store_url(),
        lease_seconds=settings.job_lease_seconds,
        retention_seconds=settings.job_retention_hours * 3600,
        unserved_seconds=settings.job_unserved_hours * 3600,
    )
    worker = JobWorker(store, engine, claim_size=settings.batch_size)
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
        jobs=JobsServing(store, worker, engine, settings),
        models=ModelsServing(registry, settings.default_model, show_paths=settings.expose_model_paths),
        gate=gate,
    )


async def _preload(engine: Engine, model: str) -> None:
    try:
        await engine.load(model)
    except ModelError as exc:
        logger.error("default model %r did not load: %s", model, exc.message)
