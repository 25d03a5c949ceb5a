"""Fill the demo workspace: simulated customers and history, fitted models, one campaign sending via outbox."""

from __future__ import annotations

import datetime as dt
import logging
import math

import numpy as np

from app.campaigns import launch
from app.campaigns import service as campaigns
from app.core.db import session_scope
from app.core.queue import enqueue
from app.customers.service import validate_rows, write_rows
from app.ingest.history import HistoryWriter
from app.modelling import fitting
from app.models.campaign_schemas import CampaignCreate
from app.models.schemas import EspConnectionIn
from app.platform import esp_config

log = logging.getLogger("sendwise.demo")
SUBJECTS = ("{{ customer.attributes.first_name }}, your weekend picks", "Last chance: 30% off everything",
            "New arrivals are in", "Did you see this?")
CATEGORIES = ("outdoor", "fashion", "home")
DAY_S = 86400.0


def history_shift(world_now: float, now: float) -> float:
    """Seconds to add to the simulated history: a whole number of days, so that every simulated reader's
    opens keep their local hours (the readers answer new emails at their true local hours), and the
    world's "now" lands within the last day, never in the future."""
    return math.floor((now - world_now) / DAY_S) * DAY_S


def seed_demo(workspace_id: str, n_customers: int = 2000, seed: int = 7, fit: bool = True,
              campaign: bool = True) -> None:
    """Write a simulated world into the workspace, fit its models and launch a campaign."""
    from app.simulate import make_world

    world = make_world(seed, n_customers)
    shift = history_shift(world.now, dt.datetime.now(dt.UTC).timestamp())
    with session_scope() as s:
        esp_config.put_connection(s, workspace_id, EspConnectionIn(
            provider="outbox", from_email="news@demo.example", from_name="Demo shop"))
        # The simulator's .test addresses are refused by email validation (a reserved TLD).
        rows = [{"external_id": r.external_id, "email": r.email.replace("@example.test", "@demo.example.com"),
                 "timezone": r.timezone if isinstance(r.timezone, str) else None,
                 "attributes": {"first_name": r.first_name, **({"segment": r.segment} if r.segment else {})}}
                for r in world.customer_rows.itertuples()]
        good, errors = validate_rows(rows)
        if errors:
            log.warning("demo customers refused: %d (first: %s)", len(errors), errors[0]["error"])
        write_rows(s, workspace_id, good)
        s.commit()
        rng = np.random.default_rng(seed)
        hist = world.history
        writer = HistoryWriter(s, workspace_id)
        subj = rng.integers(0, len(SUBJECTS), len(hist))
        cat = rng.integers(0, len(CATEGORIES), len(hist))
        for i, h in enumerate(hist.itertuples()):
            opened = h.opened_at if np.isfinite(h.opened_at) else None
            clicked = h.human_clicked_at if np.isfinite(h.human_clicked_at) else None
            writer.add(i + 1, {
                "external_id": h.external_id, "sent_at": h.sent_at + shift,
                "opened_at": opened + shift if opened is not None else None,
                "clicked_at": clicked + shift if clicked is not None else None,
                "machine_open": bool(h.open_is_machine), "subject": SUBJECTS[subj[i]].replace(
                    "{{ customer.attributes.first_name }}", "Alex"), "category": CATEGORIES[cat[i]],
            })
        writer.flush()
    if fit:
        fitting.fit_workspace(workspace_id)
    if campaign:
        _launch_demo_campaign(workspace_id)


def demo_campaign_body(now: dt.datetime) -> CampaignCreate:
    """The demo's campaign: its window opens now, so the holdout and the customers whose best hour is now
    are sent within minutes of `make run`; the rest follow at their own best hours over the day."""
    return CampaignCreate.model_validate({
        "name": "Winter sale (demo)", "subject_variants": list(SUBJECTS[:3]),
        "template_html": "<h1>Hello {{ customer.attributes.first_name }}</h1>{{ content }}"
                         '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>',
        "template_text": "Hello {{ customer.attributes.first_name }}\n\nUnsubscribe: {{ unsubscribe_url }}",
        "content_blocks": {"outdoor": "<p>Tents and boots</p>", "fashion": "<p>Coats and scarves</p>",
                           "home": "<p>Blankets and candles</p>"},
        "audience": {"all": True},
        "window": {"start": now.isoformat(), "end": (now + dt.timedelta(hours=24)).isoformat()},
        "strategy": "optimal", "quiet_hours": {"start": 22, "end": 7},
        "holdout_fraction": 0.1, "exploration": 0.05,
    })


def _launch_demo_campaign(workspace_id: str) -> None:
    body = demo_campaign_body(dt.datetime.now(dt.UTC))
    with session_scope() as s:
        camp = campaigns.create_campaign(s, workspace_id, body)
        launch.launch(s, workspace_id, camp.id)
    try:
        enqueue("sendwise.models.simulate", workspace_id)
    except Exception:  # noqa: BLE001 - the Models page just shows no simulation yet
        log.warning("could not enqueue the demo simulation")
