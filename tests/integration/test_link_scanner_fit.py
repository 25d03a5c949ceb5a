"""Link scanners end to end: found by the fit, kept out of the models, the statistics and later clicks;
the self-validated content choice shown by GET /v1/models."""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
from sqlalchemy import text
from sqlmodel import select

from app.core.db import session_scope
from app.esp.events import EventType, NormalizedEvent
from app.ingest.ingestion import ingest_events
from app.modelling import content_policies
from app.modelling.fitting import fit_workspace
from app.models import Customer, CustomerProfile, CustomerStats, Event

CATS = ("outdoor", "fashion", "home", "beauty")
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _load(client, auth) -> None:
    rng = np.random.default_rng(5)
    people = [(f"a{i}", "a") for i in range(40)] + [(f"b{i}", "b") for i in range(40)] + [("gate", "a")]
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": x, "email": f"{x}@example.com", "timezone": "UTC", "attributes": {"segment": seg}}
        for x, seg in people]})
    lines = ["external_id,sent_at,opened_at,clicked_at,subject,category"]
    for day in range(0, 60, 3):
        for x, seg in people:
            cat = CATS[int(rng.integers(0, 4))]
            if x == "gate":  # behind a gateway: sent at 03:00, every link fetched 20-50 s later; reads at 20:00
                sent = START + dt.timedelta(days=day, hours=3)
                opened = sent + dt.timedelta(hours=17)
                clicked = sent + dt.timedelta(seconds=float(rng.uniform(20, 50)))
                lines.append(f"{x},{_iso(sent)},{_iso(opened)},{_iso(clicked)},New in,{cat}")
                continue
            sent = START + dt.timedelta(days=day, hours=int(rng.integers(8, 18)))
            opened = sent + dt.timedelta(hours=float(rng.uniform(1, 5))) if rng.random() < 0.5 else None
            liked = (seg == "a" and cat == "outdoor") or (seg == "b" and cat == "fashion")
            click = opened is not None and rng.random() < (0.6 if liked else 0.08)
            clicked = opened + dt.timedelta(minutes=3) if click and opened is not None else None
            lines.append(f"{x},{_iso(sent)},{_iso(opened) if opened else ''},"
                         f"{_iso(clicked) if clicked else ''},New in,{cat}")
    r = client.post("/v1/history", headers={**auth, "Content-Type": "text/csv"},
                    content=("\n".join(lines) + "\n").encode())
    assert r.status_code == 200 and r.json()["imported"] == 20 * 81, r.text


def _state(ws: str) -> tuple[np.ndarray, np.ndarray]:
    """The fitted block rates of the segments, and the gateway customer's send-time scores."""
    with session_scope() as s:
        policy = content_policies.latest(s, ws)["category"]
        gate = s.exec(select(Customer).where(Customer.workspace_id == ws, Customer.external_id == "gate")).one()
        prof = s.get(CustomerProfile, gate.id)
        assert prof is not None
        return policy.rates.rate_segment.copy(), np.frombuffer(prof.scores, dtype=np.float32).copy()


def test_a_scanner_customers_clicks_never_move_an_hour_or_a_block(client, auth, workspace):
    ws = workspace[0]
    _load(client, auth)
    summary = fit_workspace(ws)
    assert summary["link_scanners"] == 1
    with session_scope() as s:
        gate = s.exec(select(Customer).where(Customer.workspace_id == ws, Customer.external_id == "gate")).one()
        assert gate.link_scanner is not None and "clicked 20 of 20 emails" in gate.link_scanner
        readers = s.exec(select(Customer).where(Customer.workspace_id == ws, Customer.external_id != "gate")).all()
        assert all(c.link_scanner is None for c in readers)
        stats = s.get(CustomerStats, gate.id)
        assert stats is not None and stats.human_clicks == 0 and stats.bot_clicks == 20  # out of every rate
        assert not stats.category_clicks
        gate_id = gate.id
    rates, scores = _state(ws)
    # the same history without the gateway's clicks fits to the same blocks and the same hours
    with session_scope() as s:
        s.execute(text("UPDATE send SET clicked_at = NULL WHERE customer_id = :c"), {"c": gate_id})
        s.commit()
    fit_workspace(ws)
    rates2, scores2 = _state(ws)
    assert np.allclose(rates, rates2, rtol=1e-9, atol=1e-12)
    assert np.allclose(scores, scores2, rtol=1e-4, atol=1e-6)
    items = sorted(CATS)  # the policy's categories, in the order of its rates
    assert items[rates[0].argmax()] == "outdoor" and items[rates[1].argmax()] == "fashion"  # segments a, b
    # a later click of the customer is a machine click, whenever it comes
    ev = NormalizedEvent(provider="sendgrid", event_type=EventType.CLICKED, timestamp=dt.datetime.now(dt.UTC),
                         recipient="gate@example.com", message_id=None, dedup_key=uuid.uuid4().hex,
                         click_url="https://shop.example/x")
    with session_scope() as s:
        ingest_events(s, ws, [ev])
        s.commit()
        stored = s.exec(select(Event).where(Event.workspace_id == ws, Event.type == "clicked")).one()
        assert not stored.human and stored.reason == "link_scanner_customer"
    # the self-validation of the content choice, in plain words
    content = client.get("/v1/models", headers=auth).json()["models"]["content"]
    words = " ".join(content["metrics"]["summary"]["category"])
    assert "human clicks per send" in words and "served:" in words
    assert content["metrics"]["category"]["serve"]["data-rich"] in ("best single", "best per segment",
                                                                    "per customer", "attribute model")
