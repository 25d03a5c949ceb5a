"""Self-validated content policies: hierarchical shrinkage, the off-policy comparison, the fallback to a simple rule."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.propensity.content_policy import (
    category_counts,
    category_member,
    counts_from_array,
    fit_content_policies,
)
from app.propensity.selfcheck import Group, Policy
from app.propensity.shrinkage import Level, fit_shrunk_rates

CATS = ("outdoor", "fashion", "home", "beauty")
DAY = 86400.0


def _history(seed: int, n: int = 1500, campaigns: int = 24, satiation: bool = False) -> tuple[pd.DataFrame,
                                                                                             pd.DataFrame]:
    """Random blocks per send. Segment "a" likes outdoor, "b" fashion. Each customer also has a fad category.

    Stable world: the fad is a lasting personal favourite (clicks on it all along), so per-customer choice wins.
    Satiation world: customers click their fad a lot early on and never again (the taste wore off): what a
    customer clicked before misleads, and the segment's favourite is the better rule for the latest sends.
    """
    rng = np.random.default_rng(seed)
    seg = rng.integers(0, 2, n)
    fad = rng.integers(0, len(CATS), n)
    rows = []
    for c in range(campaigns):
        t = 1_700_000_000.0 + c * 3 * DAY
        who = np.flatnonzero(rng.random(n) < 0.85)
        cat = rng.integers(0, len(CATS), len(who))
        p = np.full(len(who), 0.03)
        p[cat == seg[who]] = 0.12  # the segment's favourite: outdoor (0) for "a", fashion (1) for "b"
        on_fad = cat == fad[who]
        late = c >= int(0.75 * campaigns)
        if satiation:
            p[on_fad] = 0.0 if late else 0.6
        else:
            p[on_fad] = 0.35
        clicked = rng.random(len(who)) < p
        rows.append(pd.DataFrame({"customer": who, "sent_at": t + rng.uniform(0, 3600, len(who)),
                                  "subject": None, "category": np.array(CATS, dtype=object)[cat],
                                  "opened": clicked, "clicked": clicked}))
    customers = pd.DataFrame({"segment": np.array(["a", "b"], dtype=object)[seg], "first_name": None,
                              "attributes": [{} for _ in range(n)]})
    return pd.concat(rows, ignore_index=True), customers


def test_per_customer_choice_wins_where_personal_tastes_last():
    frame, customers = _history(seed=1)
    policy = fit_content_policies(frame, customers)["category"]
    table = policy.report["groups"][Group.RICH.value]
    assert policy.report["method"] == "off-policy"
    assert table[Policy.CUSTOMER.value]["dr"] > table[Policy.SEGMENT.value]["dr"] > table[Policy.RANDOM.value]["dr"]
    assert policy.serve[Group.RICH.value] == Policy.CUSTOMER.value


def test_self_validation_falls_back_to_the_simple_rule_where_it_wins():
    frame, customers = _history(seed=2, satiation=True)
    policy = fit_content_policies(frame, customers)["category"]
    table = policy.report["groups"][Group.RICH.value]
    # the workspace's own held-out evidence: the customer's past favourite is now the worst choice
    assert table[Policy.CUSTOMER.value]["dr"] < table[Policy.SEGMENT.value]["dr"]
    assert policy.serve[Group.RICH.value] in (Policy.SEGMENT.value, Policy.SINGLE.value)
    # and planning then ranks blocks by the segment's rates, not the customer's own clicks
    n = len(customers)
    own = counts_from_array(category_counts(frame, policy.rates.items, n))
    values = policy.probabilities(customers["segment"].tolist(), own, category_member(policy, CATS))
    best = np.array(CATS)[values.argmax(axis=1)]
    expected = np.where(customers["segment"].to_numpy() == "a", "outdoor", "fashion")
    assert (best == expected).mean() > 0.95


def test_shrinkage_takes_the_segment_for_customers_without_history():
    frame, customers = _history(seed=3)
    cust = frame["customer"].to_numpy()
    items = list(CATS)
    member = np.eye(len(items), dtype=bool)[pd.Categorical(frame["category"], categories=items).codes]
    seg_codes = (customers["segment"].to_numpy() == "b").astype(np.int64)
    rates = fit_shrunk_rates(cust, seg_codes, ["a", "b"], items, member, frame["clicked"].to_numpy(),
                             frame["sent_at"].to_numpy())
    assert rates.rate_segment[0].argmax() == 0 and rates.rate_segment[1].argmax() == 1
    empty = counts_from_array(np.zeros((2, 2, len(items) + 1)))
    p = rates.line_probabilities(Level.CUSTOMER, np.array([0, 1]), empty, np.eye(len(items)))
    assert np.allclose(p, rates.rate_segment[:2], rtol=1e-6)
    # an unlabeled customer gets the pooled "no label" group, which (with no sends) is the workspace's rates
    assert np.allclose(rates.rate_segment[2], rates.rate_workspace * rates.base_segment[2] / rates.base_workspace)
