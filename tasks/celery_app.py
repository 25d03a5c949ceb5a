"""The Celery application, configured from `celery_config`."""

from celery import Celery

app = Celery("sendwise")
app.config_from_object("celery_config")

import tasks.demo  # noqa: E402,F401  (register the tasks)
import tasks.dispatch  # noqa: E402,F401
import tasks.ingest  # noqa: E402,F401
import tasks.modeling  # noqa: E402,F401
import tasks.planning  # noqa: E402,F401
