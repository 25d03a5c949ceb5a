"""Errors that services raise and routes translate into HTTP answers."""

from __future__ import annotations


class ServiceError(Exception):
    """A request the service refuses, with the HTTP status that says why."""

    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None, loc: list[str | int] | None = None):
        super().__init__(message)
        self.message = message
        self.loc = loc
        if status_code is not None:
            self.status_code = status_code


class NotFound(ServiceError):
    status_code = 404


class Invalid(ServiceError):
    """Validation failure reported in FastAPI's 422 `{"detail": [...]}` shape."""

    status_code = 422


class TooLarge(ServiceError):
    status_code = 413
