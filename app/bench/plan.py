"""`sendwise bench plan`: plan one campaign for every customer of a large workspace.

The figure is `planning.plan_campaign` as the plan task runs it: load the audience, score hours
(fitted profiles for most customers, cold starts for the rest), choose subject and category with
the propensity models (fitted on a small synthetic history unless `--no-models`), apply quiet hours,
holdout, exploration and the frequency cap, and write every message row. The baseline is a raw
bulk load (COPY on PostgreSQL) of the same number of message rows into a scratch table.
"""

from __future__ import annotations

import base64
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from app.bench import BenchResult, create_bench_workspace, drop_workspace, is_postgres_url, scratch_copy
from app.bench.data import insert_campaign, insert_customers, insert_profiles, insert_stats
from app.core.db import session_scope
from app.models import CampaignStatus, MessageStatus, ModelVersion
from app.models.base import new_id, utcnow

SetupProgress = Callable[[str, int, int], None]


def _noop(_stage: str, _done: int, _total: int) -> None:
    pass


def _store_models(ws_id: str) -> dict[str, Any]:
    """A send-time model row (segment cold starts) and, unless disabled, fitted subject/category models."""
    from app.propensity import fit_category_model, fit_subject_model
    from app.propensity.content_policy import fit_content_policies
    from app.sendtime.model import default_params
    from app.simulate.content_world import generate_content_world

    out: dict[str, Any] = {}
    with session_scope() as s:
        s.add(ModelVersion(workspace_id=ws_id, kind="sendtime", version=1, params=default_params()))
        world = generate_content_world(n_customers=4000, seed=3, n_campaigns=6)
        models = {}
        for kind, fitter in (("subject", fit_subject_model), ("category", fit_category_model)):
            model = models[kind] = fitter(world.history, world.customers, world.now, seed=0)
            s.add(ModelVersion(workspace_id=ws_id, kind=kind, version=1, rows_used=len(world.history),
                               params={"blob": base64.b64encode(model.to_bytes()).decode()}))
            out[kind] = f"fitted on {len(world.history):,} synthetic sends"
        # the self-validated content policies, each group served per customer (the costliest to plan)
        policies = fit_content_policies(world.history, world.customers, models=models)
        for policy in policies.values():
            policy.serve = {group: "per customer" for group in policy.serve}
        s.add(ModelVersion(workspace_id=ws_id, kind="content", version=1, rows_used=len(world.history),
                           params={kind: p.to_json() for kind, p in policies.items()}))
        out["content"] = "self-validated policies, every group served per customer"
        s.commit()
    return out


def setup(n_customers: int, profile_share: float, models: bool, progress: SetupProgress = _noop) -> dict[str, Any]:
    ws_id, _ = create_bench_workspace("plan")
    ids = insert_customers(ws_id, n_customers, progress=lambda n: progress("customers", n, n_customers))
    insert_stats(ws_id, ids, progress=lambda n: progress("statistics", n, n_customers))
    profiles = insert_profiles(ws_id, ids, profile_share, progress=lambda n: progress("profiles", n, n_customers))
    progress("models", 0, 1)
    fitted = _store_models(ws_id) if models else {"subject": "not fitted", "category": "not fitted"}
    progress("models", 1, 1)
    # Another recent campaign, so the frequency cap has something to find (5% of customers).
    other = insert_campaign(ws_id, CampaignStatus.SENT)
    now = utcnow()
    with session_scope() as s:
        from app.core.bulk import bulk_insert

        bulk_insert(s, "message", ("id", "workspace_id", "campaign_id", "customer_id", "arm", "scheduled_at",
                                   "subject_index", "propensity", "subject_propensity", "category_propensity",
                                   "status", "sent_at", "attempts"),
                    ((new_id(), ws_id, other, int(c), "personalized", now - dt.timedelta(hours=3), 0, 1.0, 1.0, 1.0,
                      MessageStatus.SENT, now - dt.timedelta(hours=3), 1) for c in ids[::20]))
        s.commit()
    with session_scope() as s:
        s.execute(text("ANALYZE"))
        s.commit()
    camp = insert_campaign(ws_id, CampaignStatus.PLANNING)
    return {"workspace_id": ws_id, "campaign_id": camp, "profiles": profiles, "models": fitted}


def run(n_customers: int = 1_000_000, profile_share: float = 0.9, models: bool = True, keep: bool = False,
        setup_progress: SetupProgress = _noop) -> BenchResult:
    from app.campaigns.planning import COLUMNS, plan_campaign

    info = setup(n_customers, profile_share, models, setup_progress)
    ws_id, camp = info["workspace_id"], info["campaign_id"]
    try:
        setup_progress("planning", 0, 100)
        last = [0]

        def progress(p: float) -> None:
            setup_progress("planning", int(p * 100) - last[0], 100)
            last[0] = int(p * 100)

        t0 = time.perf_counter()
        result = plan_campaign(camp, progress)
        plan_s = time.perf_counter() - t0
        with session_scope() as s:
            counts = dict(s.execute(text("SELECT status, COUNT(*) FROM message WHERE campaign_id = :c "
                                         "GROUP BY status"), {"c": camp}).all())
            sql = f"SELECT {', '.join(COLUMNS)} FROM message WHERE campaign_id = :c"
            rows = [tuple(r) for r in s.execute(text(sql), {"c": camp}).all()]
        pg = is_postgres_url()
        ddl = ("CREATE TABLE bench_scratch_message (LIKE message INCLUDING DEFAULTS INCLUDING INDEXES)" if pg
               else "CREATE TABLE bench_scratch_message AS SELECT * FROM message WHERE 0")
        copy_s = scratch_copy(ddl, "bench_scratch_message", COLUMNS, rows)
    finally:
        if not keep:
            drop_workspace(ws_id)
    res = BenchResult("plan")
    res.add("plan a campaign (wall time)", plan_s, "s", copy_s, "< 60 s", higher_is_better=False)
    res.add("plan throughput", n_customers / plan_s, "customers/s", n_customers / copy_s, "")
    res.details.update({
        "customers": n_customers, "planned rows": result.get("planned"), "by status": counts,
        "fitted send-time profiles": info["profiles"], "cold starts": n_customers - info["profiles"],
        "subject model": info["models"]["subject"], "category model": info["models"]["category"],
        "baseline": "bulk load (COPY on PostgreSQL) of the same message rows into a scratch table shaped like "
                    "`message`, same indexes",
    })
    res.met = plan_s < 60 and result.get("planned") == n_customers
    return res
