"""A customer's own taste for kinds of subject line, read from their history (`app.propensity.personal`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from app.propensity import CustomerContext, fit_subject_model
from app.propensity.items import SUBJECT_FLAGS, subject_flags
from app.propensity.personal import (
    COUNTS_BYTES,
    decode_counts,
    encode_counts,
    flag_counts,
    flag_history_at_send,
    personal_lift,
    subject_history_by_customer,
    subject_pair_features,
)

Q = SUBJECT_FLAGS.index("question")


def test_flag_history_counts_only_earlier_sends():
    flags = subject_flags(["Why not?", "Sale", "Why?", "Sale"])
    sends, opens = flag_history_at_send(np.array([1, 1, 1, 2]), np.array([30.0, 10.0, 20.0, 5.0]),
                                        np.array([1.0, 0.0, 1.0, 1.0]), flags)
    # customer 1 in time order: "Sale" (t=10), "Why?" (t=20, opened), "Why not?" (t=30, opened)
    assert sends[1, Q] == 0 and sends[2, Q] == 0 and sends[0, Q] == 1 and opens[0, Q] == 1
    assert sends[3].sum() == 0  # customer 2's first send knows nothing


def test_lift_is_zero_without_history_and_follows_the_customers_own_opens():
    s, o = np.zeros((2, len(SUBJECT_FLAGS))), np.zeros((2, len(SUBJECT_FLAGS)))
    s[1, Q], o[1, Q] = 8, 6  # opened 6 of 8 questions, but 6 of 20 sends overall
    lift = personal_lift(s, o, np.array([0.0, 20.0]), np.array([0.0, 6.0]), open_prior=0.2)
    assert np.allclose(lift[0], 0.0) and lift[1, Q] > 0.5
    assert np.allclose(np.delete(lift[1], Q), 0.0)
    cand = subject_flags(["Ready?", "New arrivals"])[None].repeat(2, axis=0)
    pair = subject_pair_features(cand, lift)
    assert pair.shape == (2, 2, len(SUBJECT_FLAGS)) and pair[1, 0, Q] == lift[1, Q] and pair[1, 1].sum() == 0


def test_flag_counts_ignore_unknown_flags_and_bad_values():
    sends, opens = flag_counts([None, {"question": [4, 3], "nonsense": [1, 1], "emoji": "x"}])
    assert sends[0].sum() == 0 and sends[1, Q] == 4 and opens[1, Q] == 3 and sends[1].sum() == 4


def test_history_by_customer_round_trips_through_storage():
    counts, has = subject_history_by_customer(np.array([0, 0, 2]), ["Anna, why not?", None, "Sale!"],
                                              ["Anna", "Anna", None], np.array([True, False, False]), 3)
    assert has.tolist() == [True, False, True]
    name = SUBJECT_FLAGS.index("name")
    assert counts[0, 0, Q] == 1 and counts[0, 1, Q] == 1 and counts[0, 0, name] == 1  # the name read as a name
    assert counts[2, 1].sum() == 0 and counts[2, 0, SUBJECT_FLAGS.index("exclaim")] == 1
    blobs = [encode_counts(counts[i]) for i in (0, 2)]
    assert all(len(b) == COUNTS_BYTES for b in blobs)
    back = decode_counts(blobs)
    assert (back == counts[[0, 2]]).all()
    sends, opens = flag_counts([back[0], None, back[1]])
    assert sends[0, Q] == 1 and opens[0, Q] == 1 and sends[1].sum() == 0


def test_a_customer_who_opens_questions_is_offered_the_question():
    """Same segment, same attributes: only the personal history tells the two customers apart."""
    rng = np.random.default_rng(3)
    lines = ["Ready for spring?", "New arrivals", "Our picks", "What is new?", "The edit", "Fresh in"]
    rows, n = [], 400
    for c in range(n):
        asker = c < n // 2  # half of the customers open questions, the others do not care
        for t in range(24):
            line = lines[rng.integers(len(lines))]
            p = 0.55 if (asker and "?" in line) else 0.2
            rows.append({"customer": c, "sent_at": float(t * 86400 + c), "subject": line, "opened": rng.random() < p})
    hist = pd.DataFrame(rows)
    customers = pd.DataFrame({"segment": [None] * n, "first_name": [None] * n, "attributes": [{}] * n})
    model = fit_subject_model(hist, customers, now=30 * 86400.0)

    def context(c: int) -> CustomerContext:
        h = hist[hist["customer"] == c]
        fl = subject_flags(h["subject"].tolist())
        counts = {f: [int(fl[:, j].sum()), int(fl[h["opened"].to_numpy(), j].sum())]
                  for j, f in enumerate(SUBJECT_FLAGS) if fl[:, j].any()}
        return CustomerContext(sends=len(h), opens=int(h["opened"].sum()), subject_history=counts)

    p = model.predict([context(0), context(n - 1)], ["Is it spring yet?", "Spring is here"])
    assert p[0, 0] > p[0, 1] and p[0, 0] - p[0, 1] > p[1, 0] - p[1, 1] + 0.05
