"""Expected open/click values of each subject variant and content block, from the fitted propensity models."""

from __future__ import annotations

import base64
from functools import lru_cache

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session

from app.core.bulk import int_array_literal
from app.core.db import is_postgres
from app.models import Campaign
from app.models.base import utcnow
from app.propensity import FIRST_NAME_TOKEN, FittedModel
from app.services.audience import AudienceRows
from app.services.sendtime_view import latest_model


@lru_cache(maxsize=32)
def _load(model_id: str, blob: str) -> FittedModel:
    return FittedModel.from_bytes(base64.b64decode(blob))


def fitted(s: Session, workspace_id: str, kind: str) -> FittedModel | None:
    """The latest fitted propensity model of a kind ("subject" or "category"), or None."""
    mv = latest_model(s, workspace_id, kind)
    if mv is None or "blob" not in mv.params:
        return None
    return _load(mv.id, mv.params["blob"])


def contexts(s: Session, aud: AudienceRows) -> pd.DataFrame:
    """Customer features the propensity models take, from attributes and the kept statistics."""
    n = len(aud)
    sends = np.zeros(n, dtype=np.int64)
    opens = np.zeros(n, dtype=np.int64)
    clicks = np.zeros(n, dtype=np.int64)
    by_cat: list[dict[str, int]] = [{} for _ in range(n)]
    last: list[float | None] = [None] * n
    pos = {int(c): i for i, c in enumerate(aud.ids)}
    now = utcnow()
    ids = [int(c) for c in aud.ids]
    pg = is_postgres(s)
    step = 200_000 if pg else 10_000
    for k in range(0, n, step):
        chunk = ids[k:k + step]
        if pg:  # one array parameter, and no JSON to decode for customers without category clicks
            query, params = ("SELECT customer_id, sends, human_opens, human_clicks, CASE WHEN category_clicks = "
                             "CAST('{}' AS jsonb) THEN NULL ELSE category_clicks END, last_engaged_at FROM "
                             "customer_stats WHERE customer_id = ANY(CAST(:ids AS bigint[]))",
                             {"ids": int_array_literal(chunk)})
        else:
            marks = ", ".join(str(c) for c in chunk)  # integers from our own query: safe to inline
            query, params = ("SELECT customer_id, sends, human_opens, human_clicks, category_clicks, "
                             f"last_engaged_at FROM customer_stats WHERE customer_id IN ({marks})", {})
        for cid, sn, op, cl, cats, le in s.execute(text(query), params).all():
            i = pos[int(cid)]
            sends[i], opens[i], clicks[i] = sn, op, cl
            by_cat[i] = cats if isinstance(cats, dict) else {}
            last[i] = (now - le).total_seconds() / 86400 if le is not None else None
    return pd.DataFrame({
        "segment": [str(a["segment"]) if a.get("segment") is not None else None for a in aud.attributes],
        "first_name": [a.get("first_name") for a in aud.attributes],
        "attributes": aud.attributes,
        "sends": sends, "opens": opens, "clicks": clicks,
        "clicks_by_category": by_cat, "last_engaged_days": last,
    })


def subject_candidates(camp: Campaign) -> list[str]:
    """Each variant rendered for a generic customer whose first name is the model's placeholder token."""
    from app.services.rendering import compile_campaign

    compiled = compile_campaign(camp.id, camp.name, camp.subject_variants, "", None, {})
    customer = {"external_id": "", "email": "", "attributes": {"first_name": FIRST_NAME_TOKEN},
                "timezone": None, "locale": None}
    out = []
    for i, tmpl in enumerate(compiled.subjects):
        try:
            out.append(tmpl.render(customer=customer, content="", category="", unsubscribe_url="",
                                   campaign=compiled.campaign).strip())
        except Exception:  # noqa: BLE001 - a variant that needs other attributes is scored by its raw text
            out.append(camp.subject_variants[i])
    return out


def values(s: Session, camp: Campaign, aud: AudienceRows, blocks: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(n, k_subjects) P(human open) and (n, k_blocks) P(human click); all equal where no model is fitted."""
    n = len(aud)
    subj = np.zeros((n, len(camp.subject_variants)))
    cat = np.zeros((n, len(blocks)))
    s_model = fitted(s, camp.workspace_id, "subject")
    c_model = fitted(s, camp.workspace_id, "category") if blocks else None
    if n == 0 or (s_model is None and c_model is None):
        return subj, cat
    ctx = contexts(s, aud)  # computed once for both models
    if s_model is not None:
        subj = s_model.predict(ctx, subject_candidates(camp))
    if c_model is not None:
        cat = c_model.predict(ctx, blocks)
    return subj, cat
