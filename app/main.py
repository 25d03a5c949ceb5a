"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api import errors
from app.api.metrics import MetricsMiddleware
from app.api.ratelimit import RateLimitMiddleware
from app.api.routes import api_keys, campaigns, customers, esp, history, jobs, models, ops, segments, webhooks
from app.core.config import get_settings
from app.core.logging import setup_logging
from app.core.queue import producer
from app.core.runtime import freeze_startup_heap
from app.web import customer_routes, unsubscribe
from app.web import routes as dashboard


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    """Before the first request: the task producer built (it is lazy, and its first use took ~300 ms in a
    webhook answer), then the start-up heap frozen (see `freeze_startup_heap`)."""
    producer().amqp  # noqa: B018  (building it is the point)
    freeze_startup_heap()
    yield


def create_app() -> FastAPI:
    """Build the app: routes, error translation and request metrics."""
    settings = get_settings()
    setup_logging(settings.LOG_LEVEL)
    # /docs and /redoc with their assets served by the app itself: they work offline, with no CDN.
    app = FastAPIOffline(
        title="sendwise",
        version="0.1.0",
        description="Email send-time and content personalization.",
        lifespan=_lifespan,
    )
    errors.install(app)
    app.add_middleware(RateLimitMiddleware)
    for module in (ops, api_keys, esp, customers, segments, history, models, campaigns, jobs, webhooks, unsubscribe,
                   customer_routes, dashboard):
        app.include_router(module.router)

    app.add_middleware(MetricsMiddleware)
    return app


app = create_app()
