"""Load a workspace's customers and sends as the arrays the pure models take."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session

from app.campaigns import slots
from app.core.db import json_loads
from app.modelling import link_scanners
from app.sendtime import CustomerData, SendData

FETCH = 200_000


@dataclass
class WorkspaceData:
    customer_ids: np.ndarray          # database ids, position = model index
    segment_names: list[str]
    customers: CustomerData
    sends: SendData
    send_frame: pd.DataFrame          # customer (index), sent_at, subject, category, opened, clicked, campaign,
    #                                   subject_propensity, category_propensity (NaN outside sendwise's campaigns)
    customer_frame: pd.DataFrame      # index = customer index: segment, first_name, attributes
    given_tz: list[str | None]
    link_scanner: list[str | None]    # per customer, why they are taken for a link scanner (their clicks dropped)


def _offset_hours(tz: str, at: dt.datetime) -> float:
    off = at.astimezone(slots.zone(tz)).utcoffset()
    return off.total_seconds() / 3600 if off is not None else 0.0


def load(session: Session, workspace_id: str, default_tz: str, now: dt.datetime) -> WorkspaceData:
    """Every customer and send of the workspace, streamed from the database in chunks."""
    rows = session.execute(
        text("SELECT id, timezone, attributes FROM customer WHERE workspace_id = :ws ORDER BY id"),
        {"ws": workspace_id},
    ).all()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    attrs: list[dict[str, Any]] = [_attributes(r[2]) for r in rows]
    given = [r[1] for r in rows]
    seg_raw = [a.get("segment") for a in attrs]
    segment_names = sorted({str(s) for s in seg_raw if s is not None})
    seg_index = {name: i for i, name in enumerate(segment_names)}
    segment = np.array([seg_index[str(s)] if s is not None else -1 for s in seg_raw], dtype=np.int64)
    offsets: dict[str, float] = {}
    utc_off = np.array([offsets.setdefault(tz, _offset_hours(tz, now)) if tz else np.nan for tz in given])
    customers = CustomerData(n=len(ids), utc_offset_h=utc_off.astype(np.float64), segment=segment,
                             default_offset_h=_offset_hours(default_tz, now), n_segments=len(segment_names))
    pos = pd.Series(np.arange(len(ids)), index=ids)
    parts: list[pd.DataFrame] = []
    # Streamed with options on this statement alone: set on the connection they would outlive the load and
    # send the session's later writes through a server-side cursor (which PostgreSQL refuses for UPDATE).
    result = session.connection().execute(
        text("SELECT s.customer_id, s.sent_at, s.opened_at, s.clicked_at, s.machine_open, s.subject, s.category, "
             "s.delivered_at, s.first_open_at, m.campaign_id, m.subject_propensity, m.category_propensity "
             "FROM send s LEFT JOIN message m ON m.id = s.message_id WHERE s.workspace_id = :ws"),
        {"ws": workspace_id}, execution_options={"stream_results": True, "yield_per": FETCH})
    cols = ["customer_id", "sent_at", "opened_at", "clicked_at", "machine_open", "subject", "category",
            "delivered_at", "first_open_at", "campaign", "subject_propensity", "category_propensity"]
    for chunk in result.partitions(FETCH):
        parts.append(pd.DataFrame(chunk, columns=cols))
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)
    frame = frame[frame["customer_id"].isin(pos.index)]
    cust = pos.loc[frame["customer_id"].to_numpy()].to_numpy() if len(frame) else np.zeros(0, dtype=np.int64)
    sent = _seconds(frame["sent_at"])
    opened = _seconds(frame["opened_at"])
    clicked = _seconds(frame["clicked_at"])
    delivered = _seconds(frame["delivered_at"])
    first_open = _seconds(frame["first_open_at"])
    reasons = link_scanners.detect(session, workspace_id, ids, cust, np.where(np.isnan(delivered), sent, delivered),
                                   np.fmin(opened, first_open), clicked)
    # a link scanner's clicks are the gateway's, and so are its opens in the same minute: out of every model
    opened, clicked = link_scanners.drop_machine_signals(reasons, cust, np.where(np.isnan(delivered), sent, delivered),
                                                         opened, clicked)
    sends = SendData(
        customer=cust.astype(np.int64),
        sent_at=sent,
        open_delay_h=(opened - sent) / 3600.0,
        click_delay_h=(clicked - sent) / 3600.0,
        machine_open=frame["machine_open"].fillna(False).astype(bool).to_numpy(),
    )
    send_frame = pd.DataFrame({
        "customer": cust.astype(np.int64), "sent_at": sent,
        "subject": frame["subject"].to_numpy(), "category": frame["category"].to_numpy(),
        "opened": ~np.isnan(opened), "clicked": ~np.isnan(clicked),
        "campaign": frame["campaign"].to_numpy(dtype=object),
        "subject_propensity": pd.to_numeric(frame["subject_propensity"], errors="coerce").to_numpy(dtype=float),
        "category_propensity": pd.to_numeric(frame["category_propensity"], errors="coerce").to_numpy(dtype=float),
    })
    customer_frame = pd.DataFrame({
        "segment": [str(s) if s is not None else None for s in seg_raw],
        "first_name": [a.get("first_name") for a in attrs],
        "attributes": attrs,
    })
    return WorkspaceData(ids, segment_names, customers, sends, send_frame, customer_frame, given, reasons)


def _attributes(value: Any) -> dict[str, Any]:
    """A customer's attributes as a dict (SQLite hands raw-query JSON back as text)."""
    if isinstance(value, str | bytes):
        try:
            value = json_loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _seconds(col: pd.Series) -> np.ndarray:
    """Naive-UTC datetimes as unix seconds, NaN where missing."""
    t = pd.to_datetime(col, utc=True, errors="coerce")
    return ((t - pd.Timestamp(0, tz="UTC")) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64, na_value=np.nan)
