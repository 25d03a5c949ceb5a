"""Celery tasks: planning."""

from tasks.celery_app import app  # noqa: F401
