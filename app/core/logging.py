"""Structured logs: one JSON object a line; ids only, never addresses or payloads.

The API, the worker and beat all log through `JsonFormatter` (Celery's own set-up is replaced, see
`tasks.celery_app`). The periodic tasks run every few seconds; Celery's lines about them ("received",
"succeeded", beat's "sending due task") are logged at DEBUG, and the tasks themselves log at INFO only
when they did something.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

# Periodic tasks whose routine lines are DEBUG (their beat entries name them too).
PERIODIC_TASKS = ("sendwise.dispatch.tick", "sendwise.ingest.sweep", "sendwise.dispatch.reconcile",
                  "sendwise.plan.sweep", "sendwise.demo.engage")
_CELERY_LOGGERS = ("celery.app.trace", "celery.worker.strategy", "celery.beat", "celery.worker.request")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("workspace_id", "campaign_id", "job_id", "message_id", "provider", "count"):
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class PeriodicToDebug(logging.Filter):
    """Celery's routine INFO lines about a periodic task become DEBUG lines (dropped unless DEBUG is on)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name not in _CELERY_LOGGERS or record.levelno != logging.INFO:
            return True
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a record that cannot format is left as it is
            return True
        if not any(name in text for name in PERIODIC_TASKS):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def setup_logging(level: str | int = "INFO") -> None:
    """Route the root logger through the JSON formatter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PeriodicToDebug())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Uvicorn's own loggers keep their handlers unless told otherwise: they log through the root's instead.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
