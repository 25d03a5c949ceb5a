"""The Celery application, configured from `celery_config`."""

import contextlib
import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_process_init

from app.core.config import get_settings
from app.core.logging import setup_logging as json_logging
from app.core.runtime import freeze_startup_heap

# The task modules import `app` from here; Celery imports them when a worker starts (no import cycle).
TASK_MODULES = ["tasks.demo", "tasks.dispatch", "tasks.ingest", "tasks.modeling", "tasks.planning"]
app = Celery("sendwise", include=TASK_MODULES)
app.config_from_object("celery_config")


@setup_logging.connect
def _json_logs(loglevel: Any = None, **_kwargs: Any) -> None:
    """The worker and beat log one JSON object a line, like the API (Celery's own set-up is skipped), at the
    level of their `--loglevel` (`sendwise up` passes LOG_LEVEL)."""
    if isinstance(loglevel, str) and loglevel:
        level: Any = loglevel.upper()
    elif isinstance(loglevel, int):
        level = loglevel
    else:
        level = get_settings().LOG_LEVEL
    json_logging(level)


@worker_process_init.connect
def _prepare_process(**_kwargs: Any) -> None:
    """Each worker process: background work yields the CPU to the API (webhook answers) when both want
    it, and the start-up heap leaves the garbage collector's walk (see `freeze_startup_heap`)."""
    nice = get_settings().WORKER_NICE
    if nice:
        with contextlib.suppress(OSError):  # not permitted here: run at the inherited priority
            os.nice(nice)
    freeze_startup_heap()  # the tasks are imported by now
