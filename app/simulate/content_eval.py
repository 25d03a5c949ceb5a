"""Simulated proof for content personalisation: subject lines and content blocks.

A small world with a known truth: customers have latent tastes (bargain hunters love discount
subjects, outdoor and fashion lovers click their category, some respond to their first name, age
and loyalty tier shift tastes); a history of past campaigns sent subject lines and categories
uniformly at random (logged propensity 1/k). sendwise fits on that history only (never on the
truth) and plans a new campaign whose subject lines include one never seen before. We report the
true expected human open and click rates of sendwise's choices, random choice, the best single
variant for everyone and the oracle, and check off-policy estimates against the truth. Two honest
ceilings show how much of the oracle's lift is knowable at all: "knowable" (the tastes implied by
segment label and attributes) and "history" (the Bayes posterior that also reads each customer's
own logged history, `history_posterior`); personal quirks beyond those are not learnable here.
Each scenario of `SCENARIOS` is reported ("default", and the harder "sparse" world).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from app.esp.scanners import FAST_CLICK_SECONDS, detect_link_scanners, scanner_mask
from app.propensity import (
    FittedModel,
    action_probabilities,
    constant_policy,
    evaluate_policy,
    fit_category_model,
    fit_subject_model,
    uniform_policy,
)
from app.propensity.content_policy import (
    category_counts,
    category_member,
    contexts_at,
    counts_from_array,
    fit_content_policies,
    subject_counts,
    subject_member,
)
from app.propensity.items import FIRST_NAME_TOKEN
from app.propensity.personal import flag_counts
from app.propensity.policy import exploration_rates, pair_regret
from app.propensity.selfcheck import ContentPolicy
from app.simulate.content_world import (
    NEW_CATEGORIES,
    NEW_SUBJECTS,
    SCENARIOS,
    ContentWorld,
    generate_content_world,
    history_posterior,
    send_campaign,
)


def _rates(p_open: np.ndarray, p_click: np.ndarray, pi_s: np.ndarray, pi_c: np.ndarray) -> tuple[float, float]:
    """True expected human open and click rates when subjects ~ pi_s and categories ~ pi_c."""
    opens = (pi_s * p_open).sum(axis=1)
    return float(opens.mean()), float((opens * (pi_c * p_click).sum(axis=1)).mean())


def _per_customer(p_open: np.ndarray, p_click: np.ndarray, pi_s: np.ndarray,
                  pi_c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each customer's true expected human open and click rates under the two policies."""
    opens = (pi_s * p_open).sum(axis=1)
    return opens, opens * (pi_c * p_click).sum(axis=1)


def _one_hot(best: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[best]


DEV_SEEDS = (901, 902, 903)  # methods and constants were chosen on these seeds only; reports use others
# ... and these dial settings (with the default scenario)
DEV_DIALS: tuple[dict[str, float], ...] = ({}, {"scanner_share": 0.1})
REPORT_DIALS: dict[str, dict[str, Any]] = {
    "base": {},
    "scanners 10%": {"scanner_share": 0.1},
    "scanners 25%": {"scanner_share": 0.25},
    "segment-carried tastes x2": {"taste_strength": 2.0},
    "weak segment tastes x0.5": {"taste_strength": 0.5},
    "hidden traits sd 0.8": {"trait_strength": 0.8},
    "all at once": {"scanner_share": 0.1, "taste_strength": 2.0, "trait_strength": 0.8},
    "one block per campaign": {"campaign_blocks": 1},
    "segment world (no shop data, tastes x2, scanners 10%)": {"scenario": "sparse", "taste_strength": 2.0,
                                                             "scanner_share": 0.1},
}
CLICK_RULE_SECONDS = 10.0  # the per-event rule: machine when within this many seconds of delivery


def observed_history(history: pd.DataFrame, n: int) -> tuple[pd.DataFrame, np.ndarray]:
    """What sendwise keeps of a recorded history: the per-event ten-second rules, then the per-customer link
    scanners (their clicks and their opens within a minute and a half of delivery dropped). Returns the
    cleaned frame and the scanner mask."""
    h = history.copy()
    open_delay, click_delay = h["open_delay_s"].to_numpy(float), h["click_delay_s"].to_numpy(float)
    machine_click = h["clicked"].to_numpy(bool) & (click_delay < CLICK_RULE_SECONDS)
    kept_click = h["clicked"].to_numpy(bool) & ~machine_click
    cust = h["customer"].to_numpy(np.int64)
    reasons = detect_link_scanners(cust, np.where(kept_click, click_delay, np.nan), click_delay - open_delay, n,
                                   bot_clicks=np.bincount(cust, weights=machine_click, minlength=n))
    scanner = scanner_mask(reasons)
    flagged = scanner[cust]
    h["clicked"] = kept_click & ~flagged
    h["opened"] = h["opened"].to_numpy(bool) & (open_delay >= CLICK_RULE_SECONDS) & ~(
        flagged & (open_delay <= FAST_CLICK_SECONDS))
    return h, scanner


def evaluate_seed(seed: int, n_customers: int = 20000, epsilon: float = 0.05, scenario: str = "default",
                  **dials: Any) -> dict[str, float]:
    """Fit on a seeded world's history, plan the new campaign, score every policy against the truth."""
    world = generate_content_world(n_customers, seed, scenario=scenario, **dials)
    history, scanner = observed_history(world.history, n_customers)
    models = {"subject": fit_subject_model(history, world.customers, world.now, seed=seed),
              "category": fit_category_model(history, world.customers, world.now, seed=seed)}
    subject_model, category_model = models["subject"], models["category"]
    policies_fit = fit_content_policies(history, world.customers, seed, models)
    ctx = contexts_at(history, world.customers, world.now + 1.0)
    rendered = world.render(NEW_SUBJECTS)
    p_open, p_click = world.open_prob(NEW_SUBJECTS), world.click_given_open(NEW_CATEGORIES)
    n, ks, kc = n_customers, len(NEW_SUBJECTS), len(NEW_CATEGORIES)
    lines = [t.format(name=FIRST_NAME_TOKEN) for t, _ in NEW_SUBJECTS]
    m_open = subject_model.predict(ctx, lines)
    m_click = category_model.predict(ctx, list(NEW_CATEGORIES))
    q_open, q_click = _served(policies_fit, history, world.customers, ctx, lines, m_open, m_click)
    # the planner's policy: each message explored with its own probability (mean ε), hour/subject/block at once
    eps_i = exploration_rates(pair_regret(q_open, q_click), epsilon)
    pi_s = (1 - eps_i)[:, None] * action_probabilities(q_open, 0.0) + eps_i[:, None] / ks  # subject marginal
    h_open, h_click = history_posterior(world, NEW_SUBJECTS, NEW_CATEGORIES, seed=seed)
    best_s = int(p_open.mean(axis=0).argmax())
    single_c = (p_open[:, best_s : best_s + 1] * p_click).mean(axis=0).argmax()
    policies = {
        "random": (uniform_policy(n, ks), uniform_policy(n, kc)),
        "best single": (constant_policy(n, ks, best_s), constant_policy(n, kc, int(single_c))),
        "per segment": (_one_hot(_best_per_label(world, p_open), ks), _one_hot(_best_per_label(world, p_click), kc)),
        "attribute model": (action_probabilities(m_open, 0.0), action_probabilities(m_click, 0.0)),
        "knowable": (_one_hot(world.open_prob(NEW_SUBJECTS, knowable=True).argmax(axis=1), ks),
                     _one_hot(world.click_given_open(NEW_CATEGORIES, knowable=True).argmax(axis=1), kc)),
        "history": (_one_hot(h_open.argmax(axis=1), ks), _one_hot(h_click.argmax(axis=1), kc)),
        "oracle": (_one_hot(p_open.argmax(axis=1), ks), _one_hot(p_click.argmax(axis=1), kc)),
        "greedy": (action_probabilities(q_open, 0.0), action_probabilities(q_click, 0.0)),
    }
    out: dict[str, float] = {"seed": seed}
    for name, (ps, pc) in policies.items():
        out[f"{name} open"], out[f"{name} click"] = _rates(p_open, p_click, ps, pc)
    # sendwise as the planner runs it: one exploration draw per message, so with probability ε_i a uniform
    # subject *and* a uniform block, else the greedy pair; rates are linear in that mixture.
    greedy = _per_customer(p_open, p_click, *policies["greedy"])
    uniform = _per_customer(p_open, p_click, *policies["random"])
    for j, metric in enumerate(("open", "click")):
        out[f"sendwise {metric}"] = float(((1 - eps_i) * greedy[j] + eps_i * uniform[j]).mean())
    out["flat open"], out["flat click"] = ((1 - epsilon) * out[f"greedy {m}"] + epsilon * out[f"random {m}"]
                                           for m in ("open", "click"))
    for metric in ("open", "click"):
        lift = out[f"oracle {metric}"] - out[f"random {metric}"]
        for name in ("sendwise", "best single", "per segment", "attribute model", "knowable", "history", "greedy",
                     "flat"):
            out[f"{name} captured {metric}"] = (out[f"{name} {metric}"] - out[f"random {metric}"]) / lift
    truth = world.scanner if world.scanner is not None else np.zeros(n, dtype=bool)
    out["scanners"], out["scanners flagged"] = float(truth.sum()), float((scanner & truth).sum())
    out["readers flagged"] = float((scanner & ~truth).sum())
    recorded = world.history["clicked"].to_numpy(bool)
    out["bot share of recorded clicks"] = float((recorded & ~world.history["human_clicked"].to_numpy(bool)).sum()
                                                / max(recorded.sum(), 1))
    for kind in ("subject", "category"):
        pol = policies_fit.get(kind)
        out[f"{kind} served"] = " / ".join(f"{g}: {p}" for g, p in pol.serve.items()) if pol else "model"  # type: ignore[assignment]
    out["subject auc"] = subject_model.metrics.get("auc", float("nan"))
    out["subject base ll"] = subject_model.metrics.get("baseline_log_loss", float("nan"))
    out["subject ll"] = subject_model.metrics.get("log_loss", float("nan"))
    out["category auc"] = category_model.metrics.get("auc", float("nan"))
    out.update(_offpolicy_check(world, subject_model, rendered, p_open, pi_s, seed))
    return out


def _served(policies: dict[str, ContentPolicy], history: pd.DataFrame, customers: pd.DataFrame,
            ctx: pd.DataFrame, lines: list[str], m_open: np.ndarray,
            m_click: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The values the planner ranks by: each group's self-validated policy (the attribute model without one)."""
    n = len(customers)
    segments = customers["segment"].tolist()
    q_open, q_click = m_open, m_click
    if "category" in policies:
        pol = policies["category"]
        own = counts_from_array(category_counts(history, pol.rates.items, n))
        q_click = pol.probabilities(segments, own, category_member(pol, NEW_CATEGORIES), m_click)
    if "subject" in policies:
        counts = flag_counts(ctx["subject_history"].tolist())
        own_s = subject_counts(counts[0], counts[1], ctx["sends"].to_numpy(float), ctx["opens"].to_numpy(float))
        q_open = policies["subject"].probabilities(segments, own_s, subject_member(lines), m_open)
    return q_open, q_click


def _best_per_label(world: ContentWorld, truth: np.ndarray) -> np.ndarray:
    """The evaluator's simple rule: per segment label, the option with the best true mean (unlabeled: overall)."""
    labels = world.customers["segment"].fillna("").to_numpy(dtype=object)
    out = np.full(len(labels), int(truth.mean(axis=0).argmax()))
    for label in set(labels) - {""}:
        rows = labels == label
        out[rows] = int(truth[rows].mean(axis=0).argmax())
    return out


def _offpolicy_check(world: ContentWorld, model: FittedModel, rendered: np.ndarray, p_open: np.ndarray,
                     pi_s: np.ndarray, seed: int) -> dict[str, float]:
    """Log the new campaign under sendwise's policy, then estimate three policies' open rates."""
    rng = np.random.default_rng(seed + 10_000)
    n, k = p_open.shape
    logged = send_campaign(world, NEW_SUBJECTS, NEW_CATEGORIES, pi_s, uniform_policy(n, len(NEW_CATEGORIES)), rng,
                   world.now, reach=1.0)
    who = logged["customer"].to_numpy()
    frame = pd.DataFrame({"action": logged["subject_index"], "propensity": logged["subject_propensity"],
                          "reward": logged["opened"].astype(float)})
    targets = {"sendwise": pi_s, "first": constant_policy(n, k, 0), "uniform": uniform_policy(n, k)}
    q = model.predict(world.contexts(), rendered)
    est = evaluate_policy(frame, {name: pi[who] for name, pi in targets.items()}, q[who])
    out: dict[str, float] = {}
    for name, pi in targets.items():
        out[f"ope {name} truth"] = float((pi * p_open).sum(axis=1).mean())
        for key in ("ips", "snips", "dr"):
            out[f"ope {name} {key}"] = est[name][key]
        out[f"ope {name} dr lo"], out[f"ope {name} dr hi"] = est[name]["dr_ci95"]
    return out


SHARE_COLUMNS = ("best single", "per segment", "attribute model", "sendwise", "flat", "greedy", "knowable",
                 "history")


def run_content_simulation(seeds: tuple[int, ...] = (1, 2, 3), n_customers: int = 20000,
                           scenarios: tuple[str, ...] = ("default", "sparse")) -> str:
    """Plain-text report per scenario (`SCENARIOS`): each policy's true open/click rates per seed, and
    off-policy estimates vs truth."""
    return "\n\n".join(_scenario_report(seeds, n_customers, name) for name in scenarios)


def _scenario_report(seeds: tuple[int, ...], n_customers: int, scenario: str) -> str:
    results = [evaluate_seed(s, n_customers, scenario=scenario) for s in seeds]
    par = SCENARIOS[scenario]
    lines = [f"content simulation, world \"{scenario}\": {n_customers} customers, {par.n_campaigns} past campaigns "
             f"in {par.history_days:.0f} days, epsilon 0.05, subject 1 never seen in history", ""]
    policies, shared = ("random", "best single", "sendwise", "knowable", "history", "oracle"), SHARE_COLUMNS
    lines.append(f"{'seed':>4} {'rate':<6}" + "".join(f"{p:>12}" for p in policies)
                 + "   share of oracle lift over random: " + " / ".join(shared))
    for r in results:
        for m in ("open", "click"):
            shares = " / ".join(f"{r[f'{p} captured {m}']:.1%}" for p in shared)
            lines.append(f"{int(r['seed']):>4} {m:<6}" + "".join(f"{r[f'{p} {m}']:>12.4f}" for p in policies)
                         + f"   {shares}")
    lines += ["per segment: the truly best option per segment label (a simple rule that knows the truth);",
              "  attribute model: the logistic model alone; sendwise: what the self-validation serves each group",
              "knowable: knows the true taste that segment label and attributes imply, not personal quirks",
              "history: Bayes posterior given the true world model, label, attributes and the customer's own",
              "  logged sends/opens/clicks (the ceiling of any honest model); greedy: sendwise without exploration;",
              "  flat: every message explored with probability epsilon (sendwise spends the same share of",
              "  explored messages where the models can barely tell the candidates apart)"]
    lines += ["", "held-out (time split) metrics of the models fitted on history:"]
    for r in results:
        lines.append(f"  seed {int(r['seed'])}: subject AUC {r['subject auc']:.3f} (baseline 0.5), log loss "
                     f"{r['subject ll']:.4f} vs {r['subject base ll']:.4f}; category AUC {r['category auc']:.3f}")
    lines += ["", "off-policy estimates of the open rate from the logged campaign (truth, IPS, SNIPS, DR [95% CI]):"]
    for r in results:
        for p in ("sendwise", "first", "uniform"):
            lines.append(f"  seed {int(r['seed'])} {p:<9} truth {r[f'ope {p} truth']:.4f}  ips {r[f'ope {p} ips']:.4f}"
                         f"  snips {r[f'ope {p} snips']:.4f}  dr {r[f'ope {p} dr']:.4f} "
                         f"[{r[f'ope {p} dr lo']:.4f}, {r[f'ope {p} dr hi']:.4f}]")
    return "\n".join(lines)


def run_content_dials(seeds: tuple[int, ...] = (1, 2, 3), n_customers: int = 2000,
                      dials: dict[str, dict[str, Any]] | None = None) -> str:
    """Share of the oracle's click (and open) lift over random per dial setting (`REPORT_DIALS`): worst and
    median over the seeds, for sendwise and the simple rules, with the link scanners found."""
    chosen = REPORT_DIALS if dials is None else dials
    lines = [f"content dials: {n_customers} customers, seeds {', '.join(map(str, seeds))} "
             f"(development seeds {', '.join(map(str, DEV_SEEDS))} are never reported); share of the oracle's lift "
             "over random, worst / median", "",
             f"{'world':<56}{'metric':<7}" + "".join(f"{p:>17}" for p in DIAL_COLUMNS) + "   scanners found"]
    for name, setting in chosen.items():
        results = [evaluate_seed(seed, n_customers, **setting) for seed in seeds]
        for metric in ("click", "open"):
            cells = "".join(_worst_median([r[f"{p} captured {metric}"] for r in results]) for p in DIAL_COLUMNS)
            found = ""
            if metric == "click":
                flagged, total = sum(r["scanners flagged"] for r in results), sum(r["scanners"] for r in results)
                found = (f"   {flagged:.0f}/{total:.0f}"
                         f" (+{sum(r['readers flagged'] for r in results):.0f} readers), bot clicks "
                         f"{np.median([r['bot share of recorded clicks'] for r in results]):.0%}")
            lines.append(f"{name:<56}{metric:<7}{cells}{found}")
    return "\n".join(lines)


DIAL_COLUMNS = ("sendwise", "per segment", "best single", "attribute model", "history")


def _worst_median(values: list[float]) -> str:
    return f"{min(values):>8.0%} / {float(np.median(values)):>4.0%}"


if __name__ == "__main__":  # python -m app.simulate.content_eval [dials SEEDS CUSTOMERS]
    import sys

    if len(sys.argv) >= 2 and sys.argv[1] == "dials":
        seed_arg = tuple(int(x) for x in (sys.argv[2] if len(sys.argv) > 2 else "1,2,3").split(","))
        print(run_content_dials(seed_arg, int(sys.argv[3]) if len(sys.argv) > 3 else 2000))
    else:
        print(run_content_simulation())
