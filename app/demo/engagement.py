"""The demo workspace's readers: its simulated customers open and click the emails sendwise sends them.

The demo's customers come from a simulated world with known truth (seed and size fixed in
`demo_seed`). When a demo email goes out, its reader responds as that world says — a human open with
the true probability for the local hour it arrived, Apple-MPP machine opens, link-scanner clicks — and
the events come back through the outbox webhook path like any ESP's, so the dashboard fills up with
real ingestion, classification and uplift. Nothing here runs outside the demo workspace.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from functools import lru_cache
from typing import Any

import numpy as np
from sqlalchemy import text

from app.core.db import session_scope
from app.esp import outbox
from app.ingest import webhooks
from app.models import MessageStatus
from app.models.base import as_utc, utcnow

MAX_PER_RUN = 2000


@lru_cache(maxsize=2)
def _world(seed: int, n: int) -> Any:
    from app.simulate import make_world

    return make_world(seed, n)


def engage(workspace_id: str, seed: int, n_customers: int) -> int:
    """Post outbox events for demo emails sent since the last run; returns how many events were posted."""
    with session_scope() as s:
        rows = s.execute(text(
            "SELECT m.id, c.email, c.external_id, m.sent_at FROM message m JOIN customer c ON c.id = m.customer_id "
            f"WHERE m.workspace_id = :ws AND m.status = '{MessageStatus.SENT}' AND m.sent_at < :settled AND NOT EXISTS "
            "(SELECT 1 FROM event e WHERE e.message_id = m.id) ORDER BY m.sent_at LIMIT :n"),
            {"ws": workspace_id, "n": MAX_PER_RUN, "settled": utcnow() - dt.timedelta(seconds=15)}).all()
    if not rows:
        return 0
    world = _world(seed, n_customers)
    rng = np.random.default_rng(int(time.time()))
    now = int(time.time())
    events: list[dict[str, Any]] = []
    for mid, email, ext, sent_raw in rows:
        sent = as_utc(sent_raw)
        delivered = int(sent.timestamp()) + 1
        idx = int(str(ext).rsplit("-", 1)[-1]) if str(ext).startswith(f"cust-{seed}-") else None
        events.append({"type": "delivered", "message_id": mid, "email": email, "timestamp": delivered,
                       "id": f"d-{mid}"})
        if idx is None or idx >= len(world.truth_24h):
            continue
        hour_utc = sent.hour
        local = int(np.floor((hour_utc + world.true_offset_h[idx]) % 24))
        human_open = rng.random() < float(world.truth_24h[idx, local])
        if world.is_mpp[idx]:
            events.append({"type": "opened", "message_id": mid, "email": email, "timestamp": delivered + 2,
                           "user_agent": "Mozilla/5.0", "id": f"m-{mid}"})
        elif human_open:
            events.append({"type": "opened", "message_id": mid, "email": email, "timestamp": now,
                           "user_agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148",
                           "id": f"o-{mid}"})
        if world.is_scanner[idx]:
            events.append({"type": "clicked", "message_id": mid, "email": email, "timestamp": delivered + 3,
                           "url": "https://shop.example/sale", "user_agent": "Mimecast Link Scanner",
                           "id": f"s-{mid}"})
        if human_open and rng.random() < 0.25:
            events.append({"type": "clicked", "message_id": mid, "email": email, "timestamp": now,
                           "url": "https://shop.example/sale", "id": f"c-{mid}",
                           "user_agent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) Safari/605.1.15"})
    body = json.dumps({"events": events}).encode()
    headers = {"X-Outbox-Signature": outbox.sign(body, webhooks.outbox_key(workspace_id))}
    with session_scope() as s:
        webhooks.accept(s, "outbox", workspace_id, headers, body)
    return len(events)
