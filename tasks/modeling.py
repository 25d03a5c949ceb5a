"""Celery tasks: modeling."""

from tasks.celery_app import app  # noqa: F401
