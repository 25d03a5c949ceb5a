"""A customer's own taste for kinds of subject line, read from their history.

Segment and attribute crosses say what customers *like this one* open; the customer's own sends and
opens of subject lines with each flag (discount, question, first name, ...) say what *this* customer
opens. For a candidate line, each of its flags contributes the customer's smoothed personal lift for
that flag: log-odds of their open rate on lines with the flag against their open rate overall, both
shrunk towards the workspace's rate, so a customer with little history gets about zero.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from app.propensity.context import logit
from app.propensity.items import SUBJECT_FLAGS, normalize_subjects, subject_flags

FLAG_PRIOR = 3.0  # pseudo-sends at the customer's overall rate added to each flag's counts
OVERALL_PRIOR = 5.0  # pseudo-sends at the workspace's rate added to the customer's overall counts


def flag_history_at_send(customer: np.ndarray, sent_at: np.ndarray, opened: np.ndarray,
                         flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the customer's earlier sends and human opens of lines with each flag: two (m, F) arrays.

    Counts only sends strictly before the row's (no leakage of the row's own outcome)."""
    m, f = flags.shape
    order = np.lexsort((np.asarray(sent_at, dtype=float), pd.factorize(pd.Series(customer))[0]))
    cust = pd.factorize(pd.Series(np.asarray(customer)[order]))[0]
    fl = flags[order].astype(float)
    op = fl * np.asarray(opened, dtype=float)[order][:, None]
    sends, opens = np.zeros((m, f)), np.zeros((m, f))
    if m:
        frame_s = pd.DataFrame(fl).groupby(cust).cumsum().to_numpy() - fl
        frame_o = pd.DataFrame(op).groupby(cust).cumsum().to_numpy() - op
        sends[order], opens[order] = frame_s, frame_o
    return sends, opens


def flag_counts(history: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """(n, F) sends and opens per flag from planning-time history entries: a (2, F) array of counts (what
    `subject_history_by_customer` gives and `encode_counts` stores), a dict `{flag: [sends, opens]}`, or
    None (no history)."""
    n, f = len(history), len(SUBJECT_FLAGS)
    counts = np.zeros((n, 2, f))
    arrays = [i for i, h in enumerate(history) if isinstance(h, np.ndarray) and h.shape == (2, f)]
    if arrays:
        counts[arrays] = np.stack([history[i] for i in arrays])
    col = {name: j for j, name in enumerate(SUBJECT_FLAGS)}
    for i, d in enumerate(history):
        if not isinstance(d, Mapping) or not d:
            continue
        for name, pair in d.items():
            j = col.get(name)
            if j is not None and isinstance(pair, list | tuple) and len(pair) == 2:
                counts[i, 0, j], counts[i, 1, j] = float(pair[0] or 0), float(pair[1] or 0)
    return counts[:, 0], counts[:, 1]


def encode_counts(counts: np.ndarray) -> bytes:
    """A customer's (2, F) counts as stored: little-endian int32, sends then opens, in `SUBJECT_FLAGS` order."""
    return np.asarray(counts, dtype="<i4").tobytes()


def decode_counts(blobs: Sequence[bytes]) -> np.ndarray:
    """(m, 2, F) counts from stored blobs (all of the current length: callers drop the others)."""
    return np.frombuffer(b"".join(blobs), dtype="<i4").reshape(-1, 2, len(SUBJECT_FLAGS))


COUNTS_BYTES = 2 * len(SUBJECT_FLAGS) * 4


def personal_lift(flag_sends: np.ndarray, flag_opens: np.ndarray, sends: np.ndarray, opens: np.ndarray,
                  open_prior: float) -> np.ndarray:
    """(m, F) log-odds of the customer's open rate on lines with each flag over their rate overall."""
    s = np.asarray(sends, dtype=float)[:, None]
    o = np.asarray(opens, dtype=float)[:, None]
    overall = (o + OVERALL_PRIOR * open_prior) / (s + OVERALL_PRIOR)
    own = (flag_opens + FLAG_PRIOR * overall) / (flag_sends + FLAG_PRIOR)
    return logit(own) - logit(overall)


def subject_pair_features(candidate_flags: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """Each candidate's flags times the customer's lift for them: (n, k, F) from (n, k, F) flags and (n, F) lift,
    or (m, F) from (m, F) flags and (m, F) lift (training rows)."""
    flags = np.asarray(candidate_flags, dtype=float)
    return flags * (lift[:, None, :] if flags.ndim == 3 else lift)


def subject_history_by_customer(customer: np.ndarray, subjects: Sequence[Any], first_names: Sequence[Any],
                                opened: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Per customer 0..n-1, sends and human opens of the subject lines they were sent, per flag: an
    (n, 2, F) count array and whether the customer has any such send.

    `customer` holds each send's customer position, `subjects` the rendered lines, `first_names` the
    send's customer's first name (so "Anna, ..." reads as a first-name line); sends without a subject
    are skipped."""
    counts = np.zeros((n, 2, len(SUBJECT_FLAGS)), dtype=np.int64)
    has = np.zeros(n, dtype=bool)
    cust = np.asarray(customer, dtype=np.int64)
    idx = [i for i, t in enumerate(subjects) if isinstance(t, str) and t != ""]
    if not idx:
        return counts, has
    texts = normalize_subjects([str(subjects[i]) for i in idx], [first_names[i] for i in idx])
    codes, uniques = pd.factorize(pd.Series(texts, dtype=object))
    flags = subject_flags([str(u) for u in uniques])[codes].astype(np.int64)
    who = cust[idx]
    was_opened = np.asarray(opened, dtype=bool)[idx]
    np.add.at(counts[:, 0], who, flags)
    np.add.at(counts[:, 1], who[was_opened], flags[was_opened])
    has[who] = True
    return counts, has
