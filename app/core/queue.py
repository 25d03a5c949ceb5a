"""Enqueue Celery tasks by name, so services never import task modules."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import Celery


@lru_cache
def producer() -> Celery:
    app = Celery("sendwise")
    app.config_from_object("celery_config")
    return app


def enqueue(task_name: str, *args: Any) -> None:
    """Send a task by its explicit name; routing to its queue comes from celery_config."""
    producer().send_task(task_name, args=list(args))
