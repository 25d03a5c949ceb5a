"""Expected open/click values of each subject variant and content block, from the fitted propensity models."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session

from app.campaigns.audience import AudienceRows
from app.core.bulk import int_array_literal, positions
from app.core.db import is_postgres, json_loads
from app.modelling import content_policies
from app.modelling.sendtime_profiles import latest_model
from app.models import Campaign
from app.models.base import as_utc, utcnow
from app.propensity import FIRST_NAME_TOKEN, FittedModel, ModelFormatError
from app.propensity.content_policy import category_member, counts_from_array, subject_counts, subject_member
from app.propensity.personal import COUNTS_BYTES, decode_counts, flag_counts

log = logging.getLogger("sendwise.models")


@lru_cache(maxsize=32)
def _load(model_id: str, blob: str) -> FittedModel:
    return FittedModel.from_bytes(base64.b64decode(blob))


def fitted(s: Session, workspace_id: str, kind: str) -> FittedModel | None:
    """The latest fitted propensity model of a kind ("subject" or "category"), or None."""
    mv = latest_model(s, workspace_id, kind)
    if mv is None or not isinstance(mv.params.get("blob"), str):
        return None
    try:
        return _load(mv.id, mv.params["blob"])
    except (ModelFormatError, binascii.Error) as exc:
        # Refused, never unpickled: campaigns go on without this model until it is refitted.
        log.warning("model %s of workspace %s refused: %s", mv.id, workspace_id, exc)
        return None


def contexts(s: Session, aud: AudienceRows) -> pd.DataFrame:
    """Customer features the propensity models take, from attributes and the kept statistics."""
    n = len(aud)
    sends = np.zeros(n, dtype=np.int64)
    opens = np.zeros(n, dtype=np.int64)
    clicks = np.zeros(n, dtype=np.int64)
    by_cat: list[dict[str, int]] = [{} for _ in range(n)]
    last: list[float | None] = [None] * n
    now = utcnow()
    if is_postgres(s):
        _contexts_pg(s, aud, sends, opens, clicks, by_cat, last, now)
    else:
        pos = {int(c): i for i, c in enumerate(aud.ids)}
        ids = [int(c) for c in aud.ids]
        for k in range(0, n, 10_000):
            marks = ", ".join(str(c) for c in ids[k:k + 10_000])  # integers from our own query: safe to inline
            query = ("SELECT customer_id, sends, human_opens, human_clicks, category_clicks, "
                     f"last_engaged_at FROM customer_stats WHERE customer_id IN ({marks})")
            for cid, sn, op, cl, cats, le in s.execute(text(query)).all():
                i = pos[int(cid)]
                sends[i], opens[i], clicks[i] = sn, op, cl
                if isinstance(cats, str):
                    cats = json_loads(cats)
                by_cat[i] = cats if isinstance(cats, dict) else {}
                # SQLite hands raw-query timestamps back as text.
                last[i] = (now - as_utc(le).replace(tzinfo=None)).total_seconds() / 86400 if le is not None else None
    subject_blobs, category_blobs = profile_blobs(s, aud)
    frame = pd.DataFrame({
        "segment": [str(a["segment"]) if a.get("segment") is not None else None for a in aud.attributes],
        "first_name": [a.get("first_name") for a in aud.attributes],
        "attributes": aud.attributes,
        "sends": sends, "opens": opens, "clicks": clicks,
        "clicks_by_category": by_cat, "last_engaged_days": last,
        "subject_history": subject_histories(s, aud, subject_blobs),
    })
    frame.attrs["category_counts"] = category_blobs  # for the content policy, read in the same pass
    return frame


def subject_histories(s: Session, aud: AudienceRows,
                      blobs: list[bytes | None] | None = None) -> list[np.ndarray | None]:
    """Each customer's sends and opens per kind of subject line, as the latest fit stored them: (2, F) counts."""
    out: list[np.ndarray | None] = [None] * len(aud)
    blobs = profile_blobs(s, aud)[0] if blobs is None else blobs
    found = [i for i, b in enumerate(blobs) if b is not None and len(b) == COUNTS_BYTES]  # else an older flag set
    if found:
        counts = decode_counts([b for b in (blobs[i] for i in found) if b is not None])
        for i, row in zip(found, counts, strict=True):
            out[i] = row
    return out


def profile_blobs(s: Session, aud: AudienceRows) -> tuple[list[bytes | None], list[bytes | None]]:
    """Each customer's stored subject and category counts (`customer_profile`), read in one pass."""
    subject: list[bytes | None] = [None] * len(aud)
    category: list[bytes | None] = [None] * len(aud)
    cond = "(subject_counts IS NOT NULL OR category_counts IS NOT NULL)"
    for k in range(0, len(aud.ids), 200_000):
        chunk = aud.ids[k:k + 200_000]
        if is_postgres(s):
            rows = s.execute(text(
                "SELECT customer_id, subject_counts, category_counts FROM customer_profile "
                f"WHERE customer_id = ANY(CAST(:ids AS bigint[])) AND {cond}"),
                {"ids": int_array_literal(chunk)}).all()
        else:
            marks = ", ".join(str(int(c)) for c in chunk)  # integers from our own query: safe to inline
            rows = s.execute(text("SELECT customer_id, subject_counts, category_counts FROM customer_profile "
                                  f"WHERE customer_id IN ({marks}) AND {cond}")).all()
        if rows:
            cids, subj, cat = zip(*rows, strict=True)
            for i, a, b in zip(positions(aud.ids, list(cids)).tolist(), subj, cat, strict=True):
                subject[i] = bytes(a) if a is not None else None
                category[i] = bytes(b) if b is not None else None
    return subject, category


def _contexts_pg(s: Session, aud: AudienceRows, sends: np.ndarray, opens: np.ndarray, clicks: np.ndarray,
                 by_cat: list[dict[str, int]], last: list[float | None], now: dt.datetime) -> None:
    """PostgreSQL: 200,000 customers per query (one array parameter), rows straight from the driver, counts
    placed column-wise, JSON decoded (orjson) only for customers with category clicks."""
    raw = s.connection().connection.driver_connection
    for k in range(0, len(aud.ids), 200_000):
        with raw.cursor() as cur:  # type: ignore[union-attr]
            cur.execute(
                "SELECT customer_id, sends, human_opens, human_clicks, CASE WHEN category_clicks = CAST('{}' AS jsonb) "
                "THEN NULL ELSE CAST(category_clicks AS text) END, "
                "CAST(EXTRACT(EPOCH FROM (CAST(%(now)s AS timestamp) - last_engaged_at)) / 86400 AS float8) "
                "FROM customer_stats WHERE customer_id = ANY(CAST(%(ids)s AS bigint[]))",
                {"ids": int_array_literal(aud.ids[k:k + 200_000]), "now": now})
            rows = cur.fetchall()
        if not rows:
            continue
        cid, sn, op, cl, cats, days = zip(*rows, strict=True)
        idx = positions(aud.ids, cid)
        sends[idx], opens[idx], clicks[idx] = sn, op, cl
        for i, c, d in zip(idx.tolist(), cats, days, strict=True):
            if c is not None:
                loaded = json_loads(c)
                by_cat[i] = loaded if isinstance(loaded, dict) else {}
            if d is not None:
                last[i] = float(d)


def subject_candidates(camp: Campaign) -> list[str]:
    """Each variant rendered for a generic customer whose first name is the model's placeholder token."""
    from app.campaigns.render_limits import render_budget
    from app.campaigns.rendering import compile_campaign
    from app.core.config import get_settings

    customer = {"external_id": "", "email": "", "attributes": {"first_name": FIRST_NAME_TOKEN},
                "timezone": None, "locale": None}
    out = []
    try:
        compiled = compile_campaign(camp.id, camp.name, camp.subject_variants, "", None, {})
    except Exception:  # noqa: BLE001 - a stored template that no longer compiles is scored by its raw text
        return list(camp.subject_variants)
    for i, tmpl in enumerate(compiled.subjects):
        try:
            with render_budget(get_settings().RENDER_BUDGET_SECONDS):
                out.append(tmpl.render(customer=customer, content="", category="", unsubscribe_url="",
                                       campaign=compiled.campaign).strip())
        except Exception:  # noqa: BLE001 - a variant that needs other attributes is scored by its raw text
            out.append(camp.subject_variants[i])
    return out


def values(s: Session, camp: Campaign, aud: AudienceRows, blocks: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, k_subjects) P(human open) and (n, k_blocks) P(human click); all equal where nothing is fitted.

    Each customer's values come from the policy the self-validation serves their group (`content_policies`):
    per customer, per segment or the workspace's best (shrunk rates), or the attribute model."""
    n = len(aud)
    subj = np.zeros((n, len(camp.subject_variants)))
    cat = np.zeros((n, len(blocks)))
    s_model = fitted(s, camp.workspace_id, "subject")
    c_model = fitted(s, camp.workspace_id, "category") if blocks else None
    policies = content_policies.latest(s, camp.workspace_id)
    if n == 0 or (s_model is None and c_model is None and not policies):
        return subj, cat
    ctx = contexts(s, aud)  # computed once for both models
    lines = subject_candidates(camp)
    segments = ctx["segment"].tolist()
    if s_model is not None:
        subj = s_model.predict(ctx, lines)
    if "subject" in policies:
        counts = flag_counts(ctx["subject_history"].tolist())
        own = subject_counts(counts[0], counts[1], ctx["sends"].to_numpy(float), ctx["opens"].to_numpy(float))
        subj = policies["subject"].probabilities(segments, own, subject_member(lines),
                                                 subj if s_model is not None else None)
    if c_model is not None:
        cat = c_model.predict(ctx, blocks)
    if blocks and "category" in policies:
        policy = policies["category"]
        k = len(policy.rates.items)
        blobs = ctx.attrs.get("category_counts")
        stored = content_policies.counts_from_blobs(blobs if blobs is not None else profile_blobs(s, aud)[1], k)
        cat = policy.probabilities(segments, counts_from_array(stored), category_member(policy, blocks),
                                   cat if c_model is not None else None)
    return subj, cat
