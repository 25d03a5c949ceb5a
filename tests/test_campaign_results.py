"""Results that tell the truth: intervals that hold at small counts, notes on thin data, variants and links."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import text

from app.campaigns import intervals
from app.core.db import session_scope
from app.models.base import utcnow
from tests.integration.helpers import add_customers, campaign_body, plan_in_process


def test_wilson_and_newcombe_match_published_values():
    # Newcombe (1998), Stat Med 17:873, table II example (56/70 − 48/80): hybrid score interval 0.0524 to 0.3339.
    lo, hi = intervals.newcombe(56, 70, 48, 80)
    assert lo == pytest.approx(0.0524, abs=5e-4) and hi == pytest.approx(0.3339, abs=5e-4)
    # Wilson at 0 of 10: [0, 0.2775], not the Wald interval's [0, 0].
    lo, hi = intervals.wilson(0, 10)
    assert lo == 0.0 and hi == pytest.approx(0.2775, abs=5e-4)


def test_six_against_sixty_two_is_not_enough_data_and_ten_is_wide():
    six = intervals.difference(0, 6, 13, 62)
    assert six["ci95"] is None and six["note"] == "not enough data yet"
    ten = intervals.difference(0, 10, 13, 62)
    lo, hi = ten["ci95"]
    # The old Wald interval was [-0.31, -0.11] here; the honest one reaches past zero.
    assert lo < -0.2 and hi > 0.0


@given(st.integers(1, 400), st.integers(1, 400), st.data())
def test_intervals_stay_in_range_and_contain_the_estimate(n1, n0, data):
    k1 = data.draw(st.integers(0, n1))
    k0 = data.draw(st.integers(0, n0))
    lo, hi = intervals.newcombe(k1, n1, k0, n0)
    d = k1 / n1 - k0 / n0
    assert -1.0 <= lo <= d + 1e-12 and d - 1e-12 <= hi <= 1.0
    wl, wh = intervals.wilson(k1, n1)
    assert 0.0 <= wl <= k1 / n1 + 1e-12 and k1 / n1 - 1e-12 <= wh <= 1.0


def _event(s, ws: str, mid: str, cust: int, kind: str, human: bool = True, url: str | None = None) -> None:
    s.execute(text(
        "INSERT INTO event (workspace_id, customer_id, message_id, provider, type, occurred_at, human, url, "
        "dedup_key, received_at) VALUES (:ws, :c, :m, 'outbox', :t, :now, :h, :u, :k, :now)"),
        {"ws": ws, "c": cust, "m": mid, "t": kind, "now": utcnow(), "h": human, "u": url, "k": uuid.uuid4().hex})


def test_variants_blocks_links_and_uplift_in_the_campaign(client, auth, workspace):
    add_customers(client, auth, 80)
    body = campaign_body(subject_variants=["Subject A", "Subject B"], exploration=1.0, holdout_fraction=0.0,
                         content_blocks={"outdoor": "<p>Tents</p>", "fashion": "<p>Coats</p>"})
    r = client.post("/v1/campaigns", headers=auth, json=body)
    cid = r.json()["id"]
    plan_in_process(workspace[0], cid)
    with session_scope() as s:
        s.execute(text("UPDATE message SET status = 'sent', sent_at = :t WHERE campaign_id = :c"),
                  {"t": utcnow(), "c": cid})
        rows = s.execute(text("SELECT id, customer_id, subject_index, category FROM message WHERE campaign_id = :c"),
                         {"c": cid}).all()
        for mid, cust, subject_index, _category in rows:
            if subject_index == 1:  # subject B: every one opened (twice: still one open), A: none
                _event(s, workspace[0], mid, cust, "opened")
                _event(s, workspace[0], mid, cust, "opened")
            else:
                _event(s, workspace[0], mid, cust, "opened", human=False)  # a machine open is not an open
        mid, cust = rows[0][0], rows[0][1]
        _event(s, workspace[0], mid, cust, "clicked", url="https://shop.example/tents")
        _event(s, workspace[0], mid, cust, "clicked", url="https://shop.example/tents")
        _event(s, workspace[0], rows[1][0], rows[1][1], "clicked", url="https://shop.example/coats")
        _event(s, workspace[0], rows[2][0], rows[2][1], "clicked", human=False, url="https://shop.example/bot")
        s.commit()
    got = client.get(f"/v1/campaigns/{cid}", headers=auth).json()
    subjects = got["variants"]["subjects"]
    assert [v["index"] for v in subjects] == [0, 1]
    by_index = {v["index"]: v for v in subjects}
    n_b = sum(1 for r in rows if r[2] == 1)
    assert by_index[1]["sent"] == n_b and by_index[1]["opened"] == n_b and by_index[0]["opened"] == 0
    assert by_index[1]["open_rate"]["value"] == 1.0 and by_index[1]["open_rate"]["ci95"][1] == 1.0
    assert by_index[1]["leader"] and got["variants"]["subject_leader"]["clear"]
    assert {b["category"] for b in got["variants"]["blocks"]} == {"outdoor", "fashion"}
    assert sum(b["sent"] for b in got["variants"]["blocks"]) == 80
    links = {x["url"]: x for x in got["links"]}
    assert links["https://shop.example/tents"]["clicks"] == 2 and links["https://shop.example/tents"]["messages"] == 1
    assert "https://shop.example/bot" not in links
    for v in subjects + got["variants"]["blocks"]:
        for key in ("open_rate", "click_rate"):
            ci = v[key]["ci95"]
            assert ci is None or 0.0 <= ci[0] <= ci[1] <= 1.0
    # No holdout at all: the uplift says so instead of inventing an interval.
    assert got["uplift"]["open_rate"]["ci95"] is None and got["uplift"]["open_rate"]["note"] == "not enough data yet"


def test_clip_estimates_keeps_rates_in_range_and_says_so():
    from app.campaigns.policy_eval import clip_estimates

    e = {"ips": 1.0007, "ips_ci95": [0.6, 1.4], "snips": 0.9, "snips_ci95": [0.8, 1.0], "dr": float("nan")}
    clip_estimates(e)
    assert e["ips"] == 1.0 and e["ips_ci95"] == [0.6, 1.0] and e["snips"] == 0.9
    assert e["clipped"] == ["ips", "ips_ci95"]


def test_evaluate_policy_says_when_its_data_is_too_thin(client, auth, workspace):
    from app.campaigns.policy_eval import evaluate_campaign, format_report

    add_customers(client, auth, 12)
    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body(
        subject_variants=["A", "B"], exploration=0.5)).json()["id"]
    plan_in_process(workspace[0], cid)
    with session_scope() as s:
        s.execute(text("UPDATE message SET status = 'sent', sent_at = :t WHERE campaign_id = :c"),
                  {"t": utcnow(), "c": cid})
        for mid, cust in s.execute(text("SELECT id, customer_id FROM message WHERE campaign_id = :c LIMIT 5"),
                                   {"c": cid}).all():
            _event(s, workspace[0], mid, cust, "opened")
        s.commit()
        report = evaluate_campaign(s, workspace[0], cid)
    part = report["subject"]
    assert part["enough_data"] is False and any("12 sent messages" in n for n in part["notes"])
    for e in part["policies"].values():
        for key in ("ips", "snips"):
            assert 0.0 <= e[key] <= 1.0
            assert all(0.0 <= x <= 1.0 for x in e[f"{key}_ci95"])
    assert "NOT ENOUGH DATA" in format_report(report)
