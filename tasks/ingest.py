"""Celery tasks: ingest."""

from tasks.celery_app import app  # noqa: F401
