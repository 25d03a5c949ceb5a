"""Per-customer sufficient statistics, kept current by dispatch, ingestion and history import."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import orjson
from sqlalchemy import text
from sqlmodel import Session, col, select

from app.models import CustomerStats
from app.models.base import to_db_time


def _latest(current: dt.datetime | None, at: dt.datetime) -> dt.datetime:
    return at if current is None or at > current else current


def _hour_counts(counts: list[int] | None, hour: int) -> list[int]:
    if counts is None:
        counts = [0] * 24
    counts[hour] += 1
    return counts


@dataclass(slots=True)
class StatsDelta:
    """What one batch adds to one customer's statistics: counters, counts by UTC hour (24 each, made on
    first use: ingestion builds one delta per customer of every batch), clicks by category, last times."""

    sends: int = 0
    human_opens: int = 0
    human_clicks: int = 0
    machine_opens: int = 0
    bot_clicks: int = 0
    send_hours: list[int] | None = None
    open_hours: list[int] | None = None
    click_hours: list[int] | None = None
    category_clicks: dict[str, int] | None = None
    last_sent_at: dt.datetime | None = None
    last_engaged_at: dt.datetime | None = None

    def sent(self, at: dt.datetime) -> None:
        self.sends += 1
        self.send_hours = _hour_counts(self.send_hours, at.hour)
        self.last_sent_at = _latest(self.last_sent_at, at)

    def opened(self, at: dt.datetime, human: bool) -> None:
        if not human:
            self.machine_opens += 1
            return
        self.human_opens += 1
        self.open_hours = _hour_counts(self.open_hours, at.hour)
        self.last_engaged_at = _latest(self.last_engaged_at, at)

    def clicked(self, at: dt.datetime, human: bool, category: str | None = None) -> None:
        if not human:
            self.bot_clicks += 1
            return
        self.human_clicks += 1
        self.click_hours = _hour_counts(self.click_hours, at.hour)
        if category:
            if self.category_clicks is None:
                self.category_clicks = {}
            self.category_clicks[category] = self.category_clicks.get(category, 0) + 1
        self.last_engaged_at = _latest(self.last_engaged_at, at)


def _add_hours(stored: list[int] | None, delta: list[int] | None) -> list[int]:
    out = list(stored or [0] * 24)
    if delta:
        for h, n in enumerate(delta):
            out[h] += n
    return out


_COUNTERS = ("sends", "human_opens", "human_clicks", "machine_opens", "bot_clicks")
_HOURS = ("send_hours", "open_hours", "click_hours")
_ZERO_HOURS = "CAST('{" + ",".join("0" * 24) + "}' AS integer[])"


def _add_hours_sql(column: str) -> str:
    """Element-wise sum of the stored and proposed integer[24] (unchanged when nothing is proposed):
    24 subscripts of fixed-width arrays, no JSON to parse per row."""
    parts = ", ".join(f"T.{column}[{h}] + EXCLUDED.{column}[{h}]" for h in range(1, 25))
    return f"{column} = CASE WHEN EXCLUDED.{column} = {_ZERO_HOURS} THEN T.{column} ELSE ARRAY[{parts}] END"


# Category click counts of both sides added key by key (a delta holding several categories).
_MERGE_CATEGORIES = (
    "(SELECT COALESCE(jsonb_object_agg(k, n), CAST('{{}}' AS jsonb)) FROM (SELECT k, SUM(CAST(x AS bigint)) AS n "
    "FROM (SELECT * FROM jsonb_each_text(T.category_clicks) UNION ALL "
    "SELECT * FROM jsonb_each_text({delta})) AS e(k, x) GROUP BY k) AS y)"
)

_RECORD = ("c bigint, " + ", ".join(f"{k} bigint" for k in _COUNTERS) + ", "
           + ", ".join(f"{h} integer[]" for h in _HOURS)
           + ", category_clicks jsonb, last_sent_at timestamp, last_engaged_at timestamp")
_APPLY_PG = (
    "INSERT INTO customer_stats AS T (customer_id, workspace_id, " + ", ".join(_COUNTERS) + ", "
    + ", ".join(_HOURS) + ", category_clicks, last_sent_at, last_engaged_at) "
    "SELECT c, :ws, " + ", ".join(f"COALESCE({k}, 0)" for k in _COUNTERS) + ", "
    + ", ".join(f"COALESCE({h}, {_ZERO_HOURS})" for h in _HOURS)
    + ", COALESCE(category_clicks, CAST('{}' AS jsonb)), last_sent_at, last_engaged_at "
    f"FROM json_to_recordset(CAST(:rows AS json)) AS v({_RECORD}) ORDER BY c "
    "ON CONFLICT (customer_id) DO UPDATE SET "
    + ", ".join(f"{k} = T.{k} + EXCLUDED.{k}" for k in _COUNTERS) + ", "
    + ", ".join(_add_hours_sql(h) for h in _HOURS) + ", "
    "category_clicks = CASE WHEN EXCLUDED.category_clicks = CAST('{}' AS jsonb) THEN T.category_clicks "
    "ELSE " + _MERGE_CATEGORIES.format(delta="EXCLUDED.category_clicks") + " END, "
    "last_sent_at = GREATEST(T.last_sent_at, EXCLUDED.last_sent_at), "
    "last_engaged_at = GREATEST(T.last_engaged_at, EXCLUDED.last_engaged_at)"
)


def _pg_row(c: int, d: StatsDelta) -> dict[str, object]:
    """One delta as a sparse record: what is zero or empty is left out (NULL there, defaulted in SQL)."""
    row: dict[str, object] = {"c": c}
    for name in _COUNTERS:
        n = getattr(d, name)
        if n:
            row[name] = n
    for name, hours in (("send_hours", d.send_hours), ("open_hours", d.open_hours), ("click_hours", d.click_hours)):
        if hours:
            row[name] = hours
    if d.category_clicks:
        row["category_clicks"] = d.category_clicks
    if d.last_sent_at:
        row["last_sent_at"] = to_db_time(d.last_sent_at).isoformat()
    if d.last_engaged_at:
        row["last_engaged_at"] = to_db_time(d.last_engaged_at).isoformat()
    return row


# The usual delta touches one hour of an array and one category: sent as (hour, count) and (key, count), it is
# added by slicing in one element, where the whole-array sum takes 24 subscripts of each side. Measured on
# PostgreSQL 15: 9–11 µs per customer row against 20–24 for the upsert that summed whole arrays.
_ONE_HOUR = {"send_hours": ("sh", "sn"), "open_hours": ("oh", "on_"), "click_hours": ("ch", "cn")}


def _hours_sql(column: str) -> str:
    h, n = _ONE_HOUR[column]
    whole = ", ".join(f"T.{column}[{i}] + v.{column}[{i}]" for i in range(1, 25))
    return (f"{column} = CASE WHEN v.{h} IS NOT NULL THEN "
            f"T.{column}[1 : v.{h} - 1] || (T.{column}[v.{h}] + v.{n}) || T.{column}[v.{h} + 1 : 24] "
            f"WHEN v.{column} IS NOT NULL THEN ARRAY[{whole}] ELSE T.{column} END")


_UPDATE_RECORD = (_RECORD + ", " + ", ".join(f"{h} integer, {n} integer" for h, n in _ONE_HOUR.values())
                  + ", ck text, ckn bigint")
_UPDATE_PG = (
    "UPDATE customer_stats AS T SET "
    + ", ".join(f"{k} = T.{k} + COALESCE(v.{k}, 0)" for k in _COUNTERS) + ", "
    + ", ".join(_hours_sql(h) for h in _HOURS) + ", "
    "category_clicks = CASE WHEN v.ck IS NOT NULL THEN T.category_clicks || "
    "jsonb_build_object(v.ck, COALESCE(CAST(T.category_clicks ->> v.ck AS bigint), 0) + v.ckn) "
    "WHEN v.category_clicks IS NOT NULL THEN " + _MERGE_CATEGORIES.format(delta="v.category_clicks")
    + " ELSE T.category_clicks END, "
    "last_sent_at = GREATEST(T.last_sent_at, v.last_sent_at), "
    "last_engaged_at = GREATEST(T.last_engaged_at, v.last_engaged_at) "
    f"FROM json_to_recordset(CAST(:rows AS json)) AS v({_UPDATE_RECORD}) WHERE T.customer_id = v.c "
    "RETURNING T.customer_id"
)


_PLAN_NESTED_LOOPS = ("SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'), "
                      "set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true)")
_RESTORE_PLANS = "SELECT set_config('enable_hashjoin', :h, true), set_config('enable_mergejoin', :m, true)"


def _update_row(c: int, d: StatsDelta) -> dict[str, object]:
    """`_pg_row`, with an array holding a single hour sent as (hour, count), a single category as (key, count)."""
    row = _pg_row(c, d)
    for name, (h, n) in _ONE_HOUR.items():
        hours = row.get(name)
        if hours is not None and hours.count(0) == 23:  # type: ignore[attr-defined]
            count = max(hours)  # type: ignore[call-overload]
            row[h], row[n] = hours.index(count) + 1, count  # type: ignore[attr-defined]
            del row[name]
    cats = d.category_clicks
    if cats is not None and len(cats) == 1:
        ((row["ck"], row["ckn"]),) = cats.items()
        del row["category_clicks"]
    return row


def _apply_pg(session: Session, workspace_id: str, deltas: dict[int, StatsDelta]) -> None:
    """PostgreSQL: one UPDATE per chunk adds the deltas in the database (atomic increments, no read-modify-write
    round trip; rows locked in customer order), the deltas travelling as one sparse JSON document. Customers
    with no statistics row yet (it is made by their first delta) are then inserted by INSERT … ON CONFLICT
    DO UPDATE, which adds instead if another transaction has made the row meanwhile."""
    ids = sorted(deltas)
    updated: set[int] = set()
    # Rows are locked in customer order, as the UPDATE reaches them: the records are sorted, and with hash and
    # merge joins off it loops over them in that order, finding each row by its key (what it plans anyway on a
    # large table; on a small one it hashed the table and locked in heap order, and two transactions locking
    # the same customers in different orders deadlock). Checking the order with a sorted SELECT … FOR UPDATE
    # first cost 10 µs more per row.
    saved = session.execute(text(_PLAN_NESTED_LOOPS)).one()
    for k in range(0, len(ids), 5000):
        doc = orjson.dumps([_update_row(c, deltas[c]) for c in ids[k:k + 5000]]).decode()
        updated.update(int(c) for (c,) in session.execute(text(_UPDATE_PG), {"rows": doc}).all())
    session.execute(text(_RESTORE_PLANS), {"h": saved[0], "m": saved[1]})
    # Inserted only once every existing row is held: a transaction never waits on a row it updates while
    # holding one it inserted (each phase takes its rows in customer order).
    missing = [c for c in ids if c not in updated]
    for k in range(0, len(missing), 5000):
        rows = [_pg_row(c, deltas[c]) for c in missing[k:k + 5000]]
        session.execute(text(_APPLY_PG), {"ws": workspace_id, "rows": orjson.dumps(rows).decode()})


def apply(session: Session, workspace_id: str, deltas: dict[int, StatsDelta]) -> None:
    """Add the deltas to the stored statistics (read, add, write; set-based in SQL on PostgreSQL)."""
    if not deltas:
        return
    if session.get_bind().dialect.name == "postgresql":
        _apply_pg(session, workspace_id, deltas)
        return
    ids = sorted(deltas)
    existing: dict[int, CustomerStats] = {}
    for k in range(0, len(ids), 5000):
        q = select(CustomerStats).where(col(CustomerStats.customer_id).in_(ids[k:k + 5000]))
        if session.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        for row in session.exec(q).all():
            existing[row.customer_id] = row
    for cid in ids:
        d = deltas[cid]
        row = existing.get(cid) or CustomerStats(customer_id=cid, workspace_id=workspace_id)
        row.sends += d.sends
        row.human_opens += d.human_opens
        row.human_clicks += d.human_clicks
        row.machine_opens += d.machine_opens
        row.bot_clicks += d.bot_clicks
        row.send_hours = _add_hours(row.send_hours, d.send_hours)
        row.open_hours = _add_hours(row.open_hours, d.open_hours)
        row.click_hours = _add_hours(row.click_hours, d.click_hours)
        if d.category_clicks:
            merged = dict(row.category_clicks or {})
            for c, n in d.category_clicks.items():
                merged[c] = merged.get(c, 0) + n
            row.category_clicks = merged
        row.last_sent_at = max(filter(None, (row.last_sent_at, d.last_sent_at)), default=None)
        row.last_engaged_at = max(filter(None, (row.last_engaged_at, d.last_engaged_at)), default=None)
        session.add(row)
