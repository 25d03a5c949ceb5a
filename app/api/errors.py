"""Translate service errors and infrastructure outages into clear HTTP answers (never a bare 500)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from app.core.errors import Invalid, ServiceError

log = logging.getLogger("sendwise.api")


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(_req: Request, exc: ServiceError) -> JSONResponse:
        if isinstance(exc, Invalid):
            detail = [{"type": "value_error", "loc": exc.loc or ["body"], "msg": exc.message}]
            return JSONResponse({"detail": detail}, status_code=422)
        return JSONResponse({"detail": exc.message}, status_code=exc.status_code)

    @app.exception_handler(OperationalError)
    async def _db_down(_req: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", type(exc.orig).__name__)
        return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503,
                            headers={"Retry-After": "5"})

    @app.exception_handler(DBAPIError)
    async def _db_error(_req: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return JSONResponse({"detail": "database unavailable, retry later"}, status_code=503,
                                headers={"Retry-After": "5"})
        log.error("database error: %s", type(exc.orig).__name__)
        return JSONResponse({"detail": "database error"}, status_code=500)
