"""Prometheus metrics: request counters in this process, plus queue and data gauges read at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import text

from app.core.db import get_engine

REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "sendwise_http_requests_total", "HTTP requests handled", ["method", "route", "status"], registry=REGISTRY
)
HTTP_LATENCY = Histogram(
    "sendwise_http_request_seconds", "HTTP request latency", ["route"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WEBHOOK_BATCHES = Counter(
    "sendwise_webhook_batches_total", "Webhook batches by outcome", ["provider", "outcome"], registry=REGISTRY
)


class DatabaseCollector(Collector):
    """Gauges computed from the database on each scrape: they hold across API, worker and beat processes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        messages = GaugeMetricFamily("sendwise_messages", "Messages by status", labels=["status"])
        backlog = GaugeMetricFamily("sendwise_webhook_backlog", "Webhook batches waiting for ingestion")
        events = GaugeMetricFamily("sendwise_events", "Stored engagement events by type", labels=["type"])
        customers = GaugeMetricFamily("sendwise_customers", "Customers by status", labels=["status"])
        try:
            with get_engine().connect() as conn:
                for status, n in conn.execute(text("SELECT status, COUNT(*) FROM message GROUP BY status")):
                    messages.add_metric([status], n)
                n = conn.execute(text("SELECT COUNT(*) FROM webhook_inbox WHERE processed_at IS NULL")).scalar()
                backlog.add_metric([], n or 0)
                for typ, n in conn.execute(text("SELECT type, COUNT(*) FROM event GROUP BY type")):
                    events.add_metric([typ], n)
                for status, n in conn.execute(text("SELECT status, COUNT(*) FROM customer GROUP BY status")):
                    customers.add_metric([status], n)
        except Exception:  # noqa: S110 - a scrape during an outage still returns the process metrics
            pass
        yield from (messages, backlog, events, customers)


REGISTRY.register(DatabaseCollector())
