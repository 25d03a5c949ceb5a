"""Celery tasks: dispatch."""

from tasks.celery_app import app  # noqa: F401
