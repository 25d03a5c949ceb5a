"""Offline API docs (no CDN) and the JSON logs: one object a line, idle periodic work at DEBUG."""

from __future__ import annotations

import io
import json
import logging
import re

from app.core.logging import JsonFormatter, PeriodicToDebug, setup_logging


def test_docs_page_loads_its_assets_from_the_app(client):
    page = client.get("/docs")
    assert page.status_code == 200
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text) + re.findall(r"url: ?'([^']+)'", page.text)
    assert urls and not [u for u in urls if u.startswith(("http://", "https://", "//"))], urls
    for u in urls:
        if u.endswith((".js", ".css")):
            asset = client.get(u)
            assert asset.status_code == 200 and len(asset.content) > 1000, u
    assert client.get("/openapi.json").status_code == 200


def _capture(level: str) -> tuple[io.StringIO, logging.Handler]:
    setup_logging(level)
    root = logging.getLogger()
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(PeriodicToDebug())
    root.handlers[:] = [handler]
    return buf, handler


def test_logs_are_one_json_object_a_line_and_idle_ticks_are_debug():
    try:
        buf, _ = _capture("INFO")
        trace = logging.getLogger("celery.app.trace")
        trace.info("Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s",
                   {"name": "sendwise.dispatch.tick", "id": "x", "runtime": 0.01, "return_value": {}})
        logging.getLogger("celery.beat").info("Scheduler: Sending due task dispatch (sendwise.dispatch.tick)")
        trace.info("Task %(name)s[%(id)s] succeeded", {"name": "sendwise.plan.campaign", "id": "y"})
        logging.getLogger("sendwise.x").info("campaign planned", extra={"campaign_id": "c1", "count": 3})
        lines = buf.getvalue().splitlines()
        parsed = [json.loads(line) for line in lines]
        assert [p["msg"] for p in parsed] == ["Task sendwise.plan.campaign[y] succeeded", "campaign planned"]
        assert parsed[1]["campaign_id"] == "c1" and parsed[1]["level"] == "info"

        buf, _ = _capture("DEBUG")
        logging.getLogger("celery.app.trace").info("Task %(name)s[%(id)s] succeeded",
                                                   {"name": "sendwise.dispatch.tick", "id": "z"})
        (line,) = buf.getvalue().splitlines()
        assert json.loads(line)["level"] == "debug"
    finally:
        setup_logging("WARNING")
