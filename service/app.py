"""The application factory: ``create_app(settings)`` builds everything from one Settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from models.catalog import ModelRegistry, default_loader, probe_source
from models.errors import ModelError
from service import __version__
from service.disconnect import CancelOnDisconnectMiddleware
from service.engine import Engine
from service.errors import install_error_handlers
from service.handlers.jobs import JobsHandler
from service.handlers.summarize import SummarizeHandler
from service.jobs.store import JobStore
from service.jobs.worker import JobWorker
from service.lifecycle import BodyTimeoutMiddleware, Lifecycle, LifecycleMiddleware
from service.middleware import BodySizeLimitMiddleware, HeaderSizeLimitMiddleware, RequestIdMiddleware
from service.openapi import install_openapi
from service.routes import ground, health, jobs, models, summarize
from service.settings import Settings

logger = logging.getLogger(__name__)

VERSION = __version__


def create_app(settings: Settings | None = None, registry: ModelRegistry | None = None) -> FastAPI:
    """Build the service. ``registry`` replaces the catalog-built one (tests inject fakes)."""
    settings = settings or Settings()
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

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the default model in the background: /health answers at once, /ready once it is loaded.
        preload = asyncio.create_task(_preload(engine, settings.default_model))
        worker.start()  # jobs left by an earlier run (or another replica) carry on by themselves
        try:
            yield
        finally:
            preload.cancel()
            await worker.stop()
            engine.close()
            store.close()

    app = FastAPI(
        title="docsum",
        version=VERSION,
        summary="Summaries of long documents: extractive and Hugging Face seq2seq models.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.lifecycle = Lifecycle()
    app.state.summarize_handler = SummarizeHandler(engine, settings)
    app.state.jobs_handler = JobsHandler(store, worker, engine, settings)
    install_error_handlers(app)
    install_openapi(app)
    app.include_router(summarize.router)
    app.include_router(ground.router)
    app.include_router(jobs.router)
    app.include_router(models.router)
    app.include_router(health.router)
    # Outermost last: the request id exists before the size check can refuse.
    app.add_middleware(CancelOnDisconnectMiddleware)  # a client that leaves takes its queued work along
    app.add_middleware(BodyTimeoutMiddleware, timeout=settings.body_timeout_seconds)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        per_path={"/v1/jobs": settings.max_job_body_bytes},
    )
    app.add_middleware(HeaderSizeLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(LifecycleMiddleware, lifecycle=app.state.lifecycle)  # SIGTERM drains (service.lifecycle)
    app.add_middleware(RequestIdMiddleware)
    return app


async def _preload(engine: Engine, model: str) -> None:
    try:
        await engine.load(model)
    except ModelError as exc:
        logger.error("default model %r did not load: %s", model, exc.message)
