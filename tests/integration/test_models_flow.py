"""Models end to end: a fit job on a real worker, GET /v1/models, personal and cold-start send times."""

from __future__ import annotations

import pytest

from app.demo.seed import seed_demo
from tests.support import wait_for

pytestmark = pytest.mark.usefixtures("celery_worker_proc")


def test_fit_job_models_and_send_times(client, auth, workspace):
    seed_demo(workspace[0], n_customers=400, seed=3, fit=False, campaign=False)
    r = client.post("/v1/models/fit", headers=auth)
    assert r.status_code == 202
    job_id = r.json()["job_id"]
    seen_progress = set()

    def done():
        j = client.get(f"/v1/jobs/{job_id}", headers=auth).json()
        seen_progress.add(j["progress"])
        return j if j["status"] in ("succeeded", "failed") else None

    job = wait_for(done, timeout=240, interval=0.3)
    assert job["status"] == "succeeded", job
    assert job["result"]["sends"] > 5000
    models = client.get("/v1/models", headers=auth).json()["models"]
    st = models["sendtime"]
    assert st["version"] == 1 and st["rows_used"] > 5000 and 0.5 < st["metrics"]["c_index"] <= 1
    assert "calibration" in st["metrics"]
    recency = st["metrics"]["recency"]  # the half-life the fit chose, and why
    assert recency["half_life_days"] in (30.0, 45.0, 60.0, 120.0, 365.0) and "test_signals" in recency
    # Self-validation: the personalized hour against simple rules on held-out history, in plain words.
    check = st["self_validation"]
    assert set(check["served"]) == {"cold", "unknown_tz", "mpp", "data_rich"}
    assert check["summary"] and all("Serving" in line for line in check["summary"])
    assert "% " in check["summary"][0] or "%" in check["summary"][0]
    for kind in ("subject", "category"):
        m = models[kind]["metrics"]
        assert 0 <= m["auc"] <= 1 and m["baseline_log_loss"] > 0
    # A customer with history gets a personal (or pooled) answer with a marketer's explanation.
    c = client.get("/v1/customers/cust-3-0000001", headers=auth).json()["send_time"]
    assert len(c["hourly_scores"]) == 24 and c["explanation"] and c["source"] in ("personal", "segment", "global")
    assert len(c["weekend_hourly_scores"]) == 24 and 0 <= c["best_weekend_hour_local"] < 24
    # A brand-new customer borrows from the workspace or their segment.
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "newbie", "email": "newbie@example.com", "timezone": "Europe/Paris"}]})
    n = client.get("/v1/customers/newbie", headers=auth).json()["send_time"]
    assert n["source"] in ("segment", "global") and n["confidence"] == 0.0
    # Planning with the fitted models: subjects and blocks are chosen by them, propensities logged.
    from tests.integration.helpers import campaign_body, launch_and_plan

    cid = launch_and_plan(client, auth, campaign_body(
        subject_variants=["{{ customer.attributes.first_name }}, 30% off", "New arrivals", "Did you see this?"],
        content_blocks={"outdoor": "<p>Tents</p>", "fashion": "<p>Coats</p>"}, strategy="optimal",
        holdout_fraction=0.1, exploration=0.1), timeout=120)
    camp = client.get(f"/v1/campaigns/{cid}", headers=auth).json()
    assert camp["status"] == "scheduled", camp.get("error")
    items = client.get(f"/v1/campaigns/{cid}/messages", headers=auth, params={"limit": 1000}).json()["items"]
    assert len(items) > 300 and all(0 < m["propensity"] <= 1 for m in items)
    assert {m["arm"] for m in items} >= {"personalized", "holdout"}
    # Each message's exploration probability lies in [ε/4, 4ε]: every pair keeps a floor for evaluation.
    floor = 0.9 * (0.1 / 4) / (3 * 2)
    assert min(m["propensity"] for m in items) >= floor - 1e-12
    # The customers' own subject history was kept by the fit, for the subject model to read.
    from sqlmodel import select

    from app.core.db import session_scope
    from app.models import CustomerProfile
    from app.propensity.personal import COUNTS_BYTES, decode_counts

    with session_scope() as s:
        kept = [bytes(b) for b in s.exec(select(CustomerProfile.subject_counts).where(
            CustomerProfile.workspace_id == workspace[0])).all() if b is not None]
    assert kept and all(len(b) == COUNTS_BYTES for b in kept)
    counts = decode_counts(kept)
    assert (counts[:, 1] <= counts[:, 0]).all() and counts[:, 0].sum() > 0  # opens never exceed sends
    # A second fit makes version 2.
    job2 = client.post("/v1/models/fit", headers=auth).json()["job_id"]
    wait_for(lambda: client.get(f"/v1/jobs/{job2}", headers=auth).json()["status"] == "succeeded", timeout=240)
    assert client.get("/v1/models", headers=auth).json()["models"]["sendtime"]["version"] == 2


def test_fit_on_empty_workspace_degrades(client, auth):
    job = client.post("/v1/models/fit", headers=auth).json()["job_id"]
    j = wait_for(lambda: (lambda x: x if x["status"] in ("succeeded", "failed") else None)(
        client.get(f"/v1/jobs/{job}", headers=auth).json()), timeout=120)
    assert j["status"] == "succeeded"
    assert "not fitted" in j["result"]["subject_model"]


def test_job_of_other_workspace_is_404(client, auth):
    import uuid

    from app.core.db import session_scope
    from app.platform.workspaces import create_workspace

    job = client.post("/v1/models/fit", headers=auth).json()["job_id"]
    with session_scope() as s:
        _, key = create_workspace(s, "j-" + uuid.uuid4().hex[:4])
    assert client.get(f"/v1/jobs/{job}", headers={"Authorization": f"Bearer {key}"}).status_code == 404
