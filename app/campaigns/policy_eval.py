"""Off-policy evaluation of a sent campaign: what other subject/block policies would have earned."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import text
from sqlmodel import Session

from app.campaigns import service as campaigns
from app.campaigns.audience import AudienceRows
from app.core.errors import ServiceError
from app.esp.events import EventType
from app.modelling import content_profiles as content_models
from app.models import CustomerStatus, MessageStatus
from app.propensity import constant_policy, evaluate_policy, uniform_policy

MIN_MESSAGES = 200  # below this many sent messages an off-policy estimate says little
MIN_EFFECTIVE = 30.0  # nor with an effective sample (importance weights) below this


def evaluate_campaign(session: Session, workspace_id: str, campaign_id: str) -> dict[str, Any]:
    """IPS, SNIPS and DR estimates of personalized, first-variant and uniform policies, with 95% CIs.

    Subjects are judged on human opens, content blocks on human clicks, each with its logged marginal
    propensity. "personalized" is the greedy policy of the current models.
    """
    camp = campaigns.get_campaign(session, workspace_id, campaign_id)
    rows = session.execute(text(
        f"""SELECT m.customer_id, m.subject_index, m.category, m.subject_propensity, m.category_propensity,
                  c.attributes,
                  EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id
                          AND e.type = '{EventType.OPENED}' AND e.human),
                  EXISTS (SELECT 1 FROM event e WHERE e.message_id = m.id
                          AND e.type = '{EventType.CLICKED}' AND e.human)
           FROM message m JOIN customer c ON c.id = m.customer_id
           WHERE m.campaign_id = :c AND m.status = '{MessageStatus.SENT}' ORDER BY m.id"""
    ), {"c": camp.id}).all()
    if not rows:
        raise ServiceError("the campaign has no sent messages to evaluate", status_code=409)
    n = len(rows)
    aud = AudienceRows(ids=np.array([r[0] for r in rows]), external_ids=[""] * n, timezones=[None] * n,
                       status=[CustomerStatus.SUBSCRIBED] * n,
                       attributes=[r[5] if isinstance(r[5], dict) else {} for r in rows])
    blocks = list(camp.content_blocks)
    subj_values, cat_values = content_models.values(session, camp, aud, blocks)
    report: dict[str, Any] = {"campaign_id": camp.id, "sent": n}
    report["subject"] = _evaluate(
        actions=np.array([r[1] for r in rows]), propensity=np.array([r[3] for r in rows], dtype=float),
        reward=np.array([bool(r[6]) for r in rows], dtype=float), values=subj_values, reward_name="human open")
    if len(blocks) > 1:
        index = {b: i for i, b in enumerate(blocks)}
        report["content_block"] = _evaluate(
            actions=np.array([index.get(r[2], 0) for r in rows]),
            propensity=np.array([r[4] for r in rows], dtype=float),
            reward=np.array([bool(r[7]) for r in rows], dtype=float), values=cat_values, reward_name="human click")
    return report


def _evaluate(actions: np.ndarray, propensity: np.ndarray, reward: np.ndarray, values: np.ndarray,
              reward_name: str) -> dict[str, Any]:
    n, k = values.shape
    greedy = np.zeros((n, k))
    greedy[np.arange(n), np.argmax(values, axis=1)] = 1.0
    logged = pd.DataFrame({"action": actions, "propensity": np.clip(propensity, 1e-6, 1.0), "reward": reward})
    has_model = bool(np.ptp(values) > 0) if values.size else False
    est = evaluate_policy(logged, {"personalized": greedy, "first_variant": constant_policy(n, k, 0),
                                   "uniform": uniform_policy(n, k)},
                          values if has_model else None)
    notes = []
    if n < MIN_MESSAGES:
        notes.append(f"too little data: {n} sent messages (at least {MIN_MESSAGES} are needed for a useful estimate)")
    for name, e in est.items():
        clip_estimates(e)
        ess = e.get("effective_sample_size", 0.0)
        if ess < MIN_EFFECTIVE:
            e["note"] = (f"too little data for this policy: an effective sample of {ess:.1f} messages "
                         f"(fewer than {MIN_EFFECTIVE}): the estimates are not reliable")
            notes.append(f"{name}: effective sample {ess:.1f}")
    return {"reward": reward_name, "observed_rate": float(reward.mean()), "variants": k,
            "model": "current models" if has_model else "none fitted: personalized = first variant",
            "policies": est, "enough_data": not notes, "notes": notes}


def clip_estimates(e: dict[str, Any]) -> None:
    """A rate lies in [0, 1]: estimates and interval ends outside are clipped, and `clipped` names them."""
    clipped = []
    for key in ("ips", "snips", "dr", "direct"):
        v = e.get(key)
        if isinstance(v, float) and np.isfinite(v) and not 0.0 <= v <= 1.0:
            e[key] = min(1.0, max(0.0, v))
            clipped.append(key)
        ci = e.get(f"{key}_ci95")
        if ci and all(isinstance(x, float) and np.isfinite(x) for x in ci):
            lo, hi = min(1.0, max(0.0, ci[0])), min(1.0, max(0.0, ci[1]))
            if [lo, hi] != list(ci):
                clipped.append(f"{key}_ci95")
            e[f"{key}_ci95"] = [lo, hi]
    e["clipped"] = clipped


def format_report(report: dict[str, Any]) -> str:
    """A plain-text table of the estimates."""
    lines = [f"campaign {report['campaign_id']}: {report['sent']} sent messages"]
    thin = [n for part in ("subject", "content_block") if part in report for n in report[part]["notes"]]
    if thin:
        lines += ["", "NOT ENOUGH DATA: treat these numbers as noise, not as a result.", *(f"  - {n}" for n in thin)]
    for part in ("subject", "content_block"):
        if part not in report:
            continue
        r = report[part]
        lines += ["", f"{part.replace('_', ' ')} choice, reward = {r['reward']} (observed {r['observed_rate']:.4f}); "
                      f"{r['model']}",
                  f"{'policy':<15}{'IPS':>9}{'IPS 95% CI':>22}{'DR':>9}{'DR 95% CI':>22}"]
        for name, e in r["policies"].items():
            lines.append(f"{name:<15}{_f(e.get('ips')):>9}{_ci(e.get('ips_ci95')):>22}"
                         f"{_f(e.get('dr')):>9}{_ci(e.get('dr_ci95')):>22}")
        clipped = sorted({c for e in r["policies"].values() for c in e.get("clipped", [])})
        if clipped:
            lines.append(f"(clipped to [0, 1], where an estimator left the range of a rate: {', '.join(clipped)}; "
                         "SNIPS is self-normalised and stays inside)")
    return "\n".join(lines)


def _f(x: Any) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.4f}"


def _ci(ci: Any) -> str:
    if not ci or any(v is None or not np.isfinite(v) for v in ci):
        return "n/a"
    return f"[{ci[0]:.4f}, {ci[1]:.4f}]"
