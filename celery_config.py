"""Celery configuration derived from the app's settings: broker, queues, routes, beat schedule."""

from celery.schedules import crontab
from kombu import Exchange, Queue

from app.core.config import get_settings
from app.core.db import private_file, sqlite_path

_settings = get_settings()

broker_url = _settings.broker_url
if (_broker_file := None if _settings.REDIS_URL else sqlite_path(broker_url)) is not None:
    private_file(_broker_file)  # the queued tasks name customers: owner-only, like the database
broker_connection_retry_on_startup = True
# Results live in our jobs table; Celery's result backend stays off.
result_backend = None
task_ignore_result = True
task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 1
worker_hijack_root_logger = False
task_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
task_time_limit = 3600
task_soft_time_limit = 3300

broker_transport_options = (
    {"visibility_timeout": 3600 * 2}
    if _settings.REDIS_URL
    # kombu's SQLAlchemy transport hands these to create_engine: wait on SQLite's lock, don't fail.
    else {"connect_args": {"timeout": 30, "check_same_thread": False}}
)

QUEUES = ("default", "ingest", "plan", "dispatch", "models")
task_default_queue = "default"
task_default_exchange = "default"
task_default_routing_key = "default"
# One queue per kind of work: a slow refit never delays a webhook. Routes name the queue only, so Celery
# publishes to the default (anonymous) exchange and kombu puts the message straight on the queue's list; a
# named exchange cost every publish a lookup of its bindings in Redis (a round trip and an SMEMBERS).
task_queues = tuple(Queue(name, Exchange(name, type="direct"), routing_key=name) for name in QUEUES)
task_routes = {
    f"sendwise.{prefix}.*": {"queue": queue}
    for prefix, queue in (("ingest", "ingest"), ("plan", "plan"), ("dispatch", "dispatch"), ("models", "models"))
}

beat_schedule_filename = str(_settings.VAR_DIR / "celerybeat-schedule")
beat_schedule = {
    "dispatch-due-messages": {
        "task": "sendwise.dispatch.tick",
        "schedule": _settings.DISPATCH_TICK_SECONDS,
        "options": {"expires": max(_settings.DISPATCH_TICK_SECONDS * 2, 5)},
    },
    "sweep-webhook-inbox": {
        "task": "sendwise.ingest.sweep",
        "schedule": 15.0,
        "options": {"expires": 30},
    },
    "reconcile-stale-sends": {
        "task": "sendwise.dispatch.reconcile",
        # Often enough to ask the ESP at the configured cadence; at least once a minute.
        "schedule": min(60.0, max(_settings.SEND_QUERY_INTERVAL_SECONDS, 5.0)),
        "options": {"expires": 120},
    },
    "sweep-stuck-launches": {
        "task": "sendwise.plan.sweep",
        "schedule": 60.0,
        "options": {"expires": 120},
    },
    "nightly-refit": {
        "task": "sendwise.models.refit_all",
        "schedule": crontab(hour=_settings.REFIT_CRON_HOUR, minute=0),
    },
}
if _settings.ENV != "production":
    # The demo's simulated readers exist only outside production.
    beat_schedule["demo-readers"] = {"task": "sendwise.demo.engage", "schedule": 20.0, "options": {"expires": 40}}
