"""Exploration as planned: one draw per message for hour, subject and block, with the logged propensities."""

from __future__ import annotations

from collections import Counter

import numpy as np
from sqlmodel import select

from app.core.db import session_scope
from app.models import Campaign, Message
from tests.integration.helpers import add_customers, campaign_body, plan_in_process

EPS, HOLDOUT, N = 0.3, 0.1, 3000
SUBJECTS = ["A {{ customer.attributes.first_name }}", "B", "C"]
BLOCKS = {"outdoor": "<p>Tents</p>", "fashion": "<p>Coats</p>"}


def test_one_exploration_draw_per_message_and_exact_joint_propensities(client, auth, workspace):
    add_customers(client, auth, N, prefix="x")
    html = '<p>{{ content }}</p><a href="{{ unsubscribe_url }}">U</a>'
    body = campaign_body(subject_variants=SUBJECTS, content_blocks=BLOCKS, exploration=EPS,
                         holdout_fraction=HOLDOUT, template_html=html)
    r = client.post("/v1/campaigns", headers=auth, json=body)
    assert r.status_code == 201, r.text
    cid = r.json()["id"]
    plan_in_process(workspace[0], cid)
    with session_scope() as s:
        camp = s.get(Campaign, cid)
        assert camp is not None
        top = list(camp.content_blocks)[0]  # the block order as stored (JSONB orders keys its own way)
        rows = s.exec(select(Message.arm, Message.subject_index, Message.category, Message.propensity,
                             Message.subject_propensity, Message.category_propensity)
                      .where(Message.campaign_id == cid)).all()
    assert len(rows) == N
    arms = Counter(r[0] for r in rows)
    # The explored share is the campaign's exploration of the non-holdout messages: one draw, not one per dimension.
    assert abs(arms["explore"] / N - EPS * (1 - HOLDOUT)) < 0.03, arms
    assert abs(arms["holdout"] / N - HOLDOUT) < 0.02, arms
    ks, kc = len(SUBJECTS), len(BLOCKS)
    # No model yet: the greedy pair is the first subject and the first block.
    for arm, subj, cat, p, ps, pc in rows:
        first = subj == 0 and cat == top
        if arm != "explore":
            assert first, (arm, subj, cat)
        joint = HOLDOUT * first + (1 - HOLDOUT) * ((1 - EPS) * first + EPS / (ks * kc))
        assert p == np.float64(joint) or abs(p - joint) < 1e-9
        s0, c0 = subj == 0, cat == top
        assert abs(ps - (HOLDOUT * s0 + (1 - HOLDOUT) * ((1 - EPS) * s0 + EPS / ks))) < 1e-9
        assert abs(pc - (HOLDOUT * c0 + (1 - HOLDOUT) * ((1 - EPS) * c0 + EPS / kc))) < 1e-9
    # The logged joint propensities of every pair sum to one, and the observed pair frequencies match them.
    pairs = Counter((r[1], r[2]) for r in rows)
    total = 0.0
    for subj in range(ks):
        for cat in BLOCKS:
            first = subj == 0 and cat == top
            mu = HOLDOUT * first + (1 - HOLDOUT) * ((1 - EPS) * first + EPS / (ks * kc))
            total += mu
            assert abs(pairs[(subj, cat)] / N - mu) < 0.03, (subj, cat, pairs[(subj, cat)] / N, mu)
    assert abs(total - 1.0) < 1e-12
    # Explored messages take uniform subjects and blocks together: every pair appears among them.
    explored = Counter((r[1], r[2]) for r in rows if r[0] == "explore")
    assert len(explored) == ks * kc
