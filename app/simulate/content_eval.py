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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from app.propensity import (
    CONTEXT_COLUMNS,
    FittedModel,
    action_probabilities,
    constant_policy,
    evaluate_policy,
    fit_category_model,
    fit_subject_model,
    uniform_policy,
)
from app.propensity.policy import sample_actions

PROPS = ("discount", "name", "urgency", "question", "emoji")
CATEGORIES = ("outdoor", "fashion", "home", "electronics", "beauty", "kids")
SEGMENTS = ("bargain hunters", "outdoor lovers", "fashionistas", "name responders", "regulars")
SEGMENT_SHARE = (0.25, 0.2, 0.2, 0.15, 0.2)
GLOBAL_EFFECT = np.array([0.25, 0.1, 0.1, -0.05, 0.0])
SEGMENT_EFFECT = np.array(  # rows: SEGMENTS, columns: PROPS
    [[1.0, 0.0, 0.3, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.2], [0.2, 0.0, 0.0, 0.0, 0.0],
     [0.0, 0.9, 0.0, 0.0, 0.0], [-0.2, 0.0, 0.0, 0.0, 0.0]]
)
SEGMENT_CATEGORY = {"outdoor lovers": ("outdoor", 1.2), "fashionistas": ("fashion", 1.2)}
CATEGORY_EFFECT = np.array([0.0, 0.1, -0.1, 0.0, 0.05, -0.15])
# (template, props): "{name}" is the customer's first name, or "Friend" (then no name effect)
HISTORY_SUBJECTS = (
    ("{name}, 30% off everything this week", (1, 1, 0, 0, 0)),
    ("Last chance: the sale ends tonight", (1, 0, 1, 0, 0)),
    ("New arrivals are here", (0, 0, 0, 0, 0)),
    ("Did you see what is new this season?", (0, 0, 0, 1, 0)),
    ("🌲 Gear up for the weekend", (0, 0, 0, 0, 1)),
    ("{name}, we picked these for you", (0, 1, 0, 0, 0)),
    ("Save 20 € on your next order", (1, 0, 0, 0, 0)),
    ("Hurry, only hours left to order", (0, 0, 1, 0, 0)),
    ("Our favourite picks of the month", (0, 0, 0, 0, 0)),
    ("Ready for something new? 🎁", (0, 0, 0, 1, 1)),
)
NEW_SUBJECTS = (  # the first one was never sent before
    ("Take 40% off today only 🎉", (1, 0, 1, 0, 1)),
    ("New arrivals are here", (0, 0, 0, 0, 0)),
    ("{name}, we picked these for you", (0, 1, 0, 0, 0)),
    ("Did you see what is new this season?", (0, 0, 0, 1, 0)),
)
NEW_CATEGORIES = ("outdoor", "fashion", "home", "beauty")
PROP_SD, CATEGORY_SD = 0.25, 0.3  # personal quirks: sd of each customer's own deviation (logit)
BASE_OPEN, BASE_CLICK = (-1.5, 0.7), (-1.9, 0.5)  # mean, sd of each customer's base open / click|open logit
FIRST_NAMES = ("Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Iris", "Jonas")
DAY = 86400.0


@dataclass
class ContentWorld:
    """Customers, their hidden tastes, and a logged history of random subject/category sends."""

    customers: pd.DataFrame  # segment (observed, may be None), first_name, attributes
    history: pd.DataFrame  # customer, sent_at, subject, category, opened, clicked, propensities
    now: float
    base_open: np.ndarray
    base_click: np.ndarray
    prop_effect: np.ndarray  # (n, len(PROPS))
    category_pref: np.ndarray  # (n, len(CATEGORIES))
    knowable_prop: np.ndarray  # expected prop_effect given segment label and attributes
    knowable_cat: np.ndarray  # expected category_pref given segment label and attributes
    subject_quality: dict[str, float]

    def open_prob(self, subjects: tuple[tuple[str, tuple[int, ...]], ...], knowable: bool = False) -> np.ndarray:
        """True P(human open) of each customer for each subject spec: (n, k).

        `knowable=True`: the part of the truth that segment label and attributes reveal (no
        personal quirks, no unobservable wording quality): what a perfect feature model could know.
        """
        effect = self.knowable_prop if knowable else self.prop_effect
        has_name = self.customers["first_name"].notna().to_numpy()
        props = np.array([p for _, p in subjects], dtype=float)  # (k, P)
        quality = np.array([0.0 if knowable else self.subject_quality.get(t, 0.0) for t, _ in subjects])
        names = props[:, 1][None, :] * has_name[:, None]
        effects = np.einsum("np,kp->nk", effect[:, [0, 2, 3, 4]], props[:, [0, 2, 3, 4]])
        logit = self.base_open[:, None] + effects + names * effect[:, [1]] + quality[None, :]
        return 1.0 / (1.0 + np.exp(-logit))

    def click_given_open(self, categories: tuple[str, ...], knowable: bool = False) -> np.ndarray:
        """True P(human click | open) for each customer and category: (n, k)."""
        cols = [CATEGORIES.index(c) for c in categories]
        pref = self.knowable_cat if knowable else self.category_pref
        return 1.0 / (1.0 + np.exp(-(self.base_click[:, None] + pref[:, cols])))

    def render(self, subjects: tuple[tuple[str, tuple[int, ...]], ...]) -> np.ndarray:
        """Rendered subject of each customer for each spec: (n, k) strings."""
        names = self.customers["first_name"].fillna("Friend").tolist()
        return np.array([[t.format(name=nm) for t, _ in subjects] for nm in names], dtype=object)

    def contexts(self) -> pd.DataFrame:
        """Planning-time `CustomerContext` frame, built from the history counters (as ingestion keeps them)."""
        h = self.history
        g = h.groupby("customer")
        n = len(self.customers)
        out = self.customers[["segment", "first_name", "attributes"]].copy()
        out["sends"] = g.size().reindex(range(n), fill_value=0).to_numpy()
        out["opens"] = g["opened"].sum().reindex(range(n), fill_value=0).to_numpy()
        out["clicks"] = g["clicked"].sum().reindex(range(n), fill_value=0).to_numpy()
        by_cat = h[h["clicked"]].groupby(["customer", "category"]).size()
        dicts: list[dict[str, int]] = [{} for _ in range(n)]
        for (cust, cat), cnt in by_cat.items():
            dicts[int(cust)][str(cat)] = int(cnt)
        out["clicks_by_category"] = dicts
        engaged = h[h["opened"] | h["clicked"]].groupby("customer")["sent_at"].max()
        out["last_engaged_days"] = ((self.now - engaged) / DAY).reindex(range(n)).to_numpy()
        return out[list(CONTEXT_COLUMNS)]


def generate_content_world(n_customers: int = 20000, seed: int = 0, n_campaigns: int = 12) -> ContentWorld:
    """A seeded world and its history of `n_campaigns` past campaigns with random choices."""
    rng = np.random.default_rng(seed)
    n = n_customers
    seg = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE)
    age = rng.integers(18, 76, size=n)
    tier = rng.choice(["basic", "silver", "gold"], size=n, p=[0.6, 0.25, 0.15])
    prop_noise = rng.normal(0, PROP_SD, size=(n, len(PROPS)))  # personal quirks no feature reveals
    category_noise = rng.normal(0, CATEGORY_SD, size=(n, len(CATEGORIES)))
    seen = rng.random(n) < 0.85  # the segment label is known for 85% of customers
    observed = np.array(SEGMENTS, dtype=object)[seg]
    observed[~seen] = None
    share, seg_lift = np.array(SEGMENT_SHARE), _segment_lift()
    # "knowable" tastes: what segment label and attributes tell (the mixture mean when no label)
    attr_prop = np.zeros((n, len(PROPS)))
    attr_prop[:, 0] -= 0.4 * (tier == "gold")
    attr_prop[:, 4] += np.where(age < 30, 0.5, np.where(age > 55, -0.4, 0.0))
    attr_prop[:, 3] += 0.2 * (age > 55)
    attr_cat = np.zeros((n, len(CATEGORIES)))
    for cat, lift, who in (("kids", 0.6, (age >= 30) & (age < 45)), ("beauty", 0.3, age < 30),
                           ("fashion", 0.3, age < 30), ("home", 0.5, age > 55), ("outdoor", 0.3, tier == "gold")):
        attr_cat[who, CATEGORIES.index(cat)] += lift
    prop_effect = GLOBAL_EFFECT + SEGMENT_EFFECT[seg] + attr_prop + prop_noise
    category_pref = CATEGORY_EFFECT + seg_lift[seg] + attr_cat + category_noise
    knowable_prop = GLOBAL_EFFECT + np.where(seen[:, None], SEGMENT_EFFECT[seg], share @ SEGMENT_EFFECT) + attr_prop
    knowable_cat = CATEGORY_EFFECT + np.where(seen[:, None], seg_lift[seg], share @ seg_lift) + attr_cat
    first = rng.choice(np.array(FIRST_NAMES, dtype=object), size=n)
    first[rng.random(n) >= 0.9] = None
    attributes = [{"age": int(a), "tier": str(t), "city": f"city{c}"}
                  for a, t, c in zip(age, tier, rng.integers(0, 8, size=n), strict=True)]
    customers = pd.DataFrame({"segment": observed, "first_name": first, "attributes": attributes})
    all_subjects = {t for t, _ in HISTORY_SUBJECTS + NEW_SUBJECTS}
    world = ContentWorld(
        customers=customers, history=pd.DataFrame(), now=0.0,
        base_open=rng.normal(*BASE_OPEN, size=n), base_click=rng.normal(*BASE_CLICK, size=n),
        prop_effect=prop_effect, category_pref=category_pref,
        knowable_prop=knowable_prop, knowable_cat=knowable_cat,
        subject_quality={t: float(rng.normal(0, 0.1)) for t in sorted(all_subjects)},
    )
    start = 1_700_000_000.0
    frames = []
    for c in range(n_campaigns):
        subjects = tuple(HISTORY_SUBJECTS[i] for i in rng.choice(len(HISTORY_SUBJECTS), 4, replace=False))
        cats = tuple(CATEGORIES[i] for i in rng.choice(len(CATEGORIES), 4, replace=False))
        frames.append(_send(world, subjects, cats, np.full((n, 4), 0.25), np.full((n, 4), 0.25), rng,
                            start + c * 7 * DAY))
    world.history = pd.concat(frames, ignore_index=True)
    world.now = start + n_campaigns * 7 * DAY
    return world


def _segment_lift() -> np.ndarray:
    lift = np.zeros((len(SEGMENTS), len(CATEGORIES)))
    for name, (cat, value) in SEGMENT_CATEGORY.items():
        lift[SEGMENTS.index(name), CATEGORIES.index(cat)] = value
    return lift


def history_posterior(world: ContentWorld, subjects: tuple[tuple[str, tuple[int, ...]], ...],
                      categories: tuple[str, ...], samples: int = 500, seed: int = 0,
                      chunk: int = 250) -> tuple[np.ndarray, np.ndarray]:
    """The "personal-history oracle": posterior mean P(open) per subject and P(click | open) per category.

    Importance sampling from the true prior: it knows the world's equations and population parameters
    (incl. the wording quality of lines sent before; a never-sent one's is unknown, 0), each customer's
    label and attributes and their own logged sends, opens and clicks; quirks are integrated out. The
    best any honest model could do with this data.
    """
    rng, cust, share, lift = np.random.default_rng(seed), world.customers, np.array(SEGMENT_SHARE), _segment_lift()
    labeled = cust["segment"].notna().to_numpy()
    seg = np.array([SEGMENTS.index(x) if isinstance(x, str) else 0 for x in cust["segment"]])
    mixed = labeled[:, None]
    attr_prop = world.knowable_prop - GLOBAL_EFFECT - np.where(mixed, SEGMENT_EFFECT[seg], share @ SEGMENT_EFFECT)
    attr_cat = world.knowable_cat - CATEGORY_EFFECT - np.where(mixed, lift[seg], share @ lift)
    has_name = cust["first_name"].notna().to_numpy()
    h = world.history.sort_values("customer", kind="stable")
    hc, opened, clicked = h["customer"].to_numpy(), h["opened"].to_numpy(), h["clicked"].to_numpy()
    names = cust["first_name"].fillna("Friend").to_numpy(dtype=object)[hc]
    line = {t: i for i, (t, _) in enumerate(HISTORY_SUBJECTS)}
    h_line = np.array([line[x.replace(nm, "{name}")] for x, nm in zip(h["subject"], names, strict=True)])
    h_cat = np.array([CATEGORIES.index(c) for c in h["category"]])
    specs = (HISTORY_SUBJECTS, subjects)
    props = [np.array([p for _, p in sub], dtype=float) for sub in specs]
    quality = [np.array([world.subject_quality[t] if t in line else 0.0 for t, _ in sub]) for sub in specs]
    new_cat = [CATEGORIES.index(c) for c in categories]
    starts = np.searchsorted(hc, np.arange(len(cust) + 1))
    e_open, e_click = np.zeros((len(cust), len(subjects))), np.zeros((len(cust), len(categories)))
    for a in range(0, len(cust), chunk):
        b = min(a + chunk, len(cust))
        m, r0, r1 = b - a, starts[a], starts[b]
        s = np.where(labeled[a:b, None], seg[a:b, None], rng.choice(len(SEGMENTS), size=(m, samples), p=share))
        eff = GLOBAL_EFFECT + SEGMENT_EFFECT[s] + attr_prop[a:b, None] + rng.normal(0, PROP_SD, (m, samples, 5))
        eff[..., 1] *= has_name[a:b, None]
        pref = CATEGORY_EFFECT + lift[s] + attr_cat[a:b, None] + rng.normal(0, CATEGORY_SD, (m, samples, 6))
        bo, bc = rng.normal(*BASE_OPEN, (m, samples)), rng.normal(*BASE_CLICK, (m, samples))
        li = hc[r0:r1] - a
        x_open = (bo[..., None] + eff @ props[0].T + quality[0])[li, :, h_line[r0:r1]]
        x_click = bc[li] + pref[li, :, h_cat[r0:r1]]
        o, c = opened[r0:r1, None], clicked[r0:r1, None]
        ll = _log_sigmoid(np.where(o, x_open, -x_open)) + o * _log_sigmoid(np.where(c, x_click, -x_click))
        ll = sp.csr_matrix((np.ones(r1 - r0), (li, np.arange(r1 - r0))), shape=(m, r1 - r0)) @ ll
        w = np.exp(ll - ll.max(axis=1, keepdims=True))
        w /= w.sum(axis=1, keepdims=True)
        e_open[a:b] = np.einsum("ms,msk->mk", w, _sigmoid(bo[..., None] + eff @ props[1].T + quality[1]))
        e_click[a:b] = np.einsum("ms,msk->mk", w, _sigmoid(bc[..., None] + pref[..., new_cat]))
    return e_open, e_click


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _log_sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(-np.logaddexp(0.0, -x))


def _send(world: ContentWorld, subjects: tuple[tuple[str, tuple[int, ...]], ...], cats: tuple[str, ...],
          subject_policy: np.ndarray, category_policy: np.ndarray, rng: np.random.Generator,
          t0: float, reach: float = 0.8) -> pd.DataFrame:
    """One campaign: choices drawn from the given policies, outcomes drawn from the truth."""
    n = len(world.customers)
    who = np.flatnonzero(rng.random(n) < reach)
    s_idx = sample_actions(subject_policy[who], rng)
    c_idx = sample_actions(category_policy[who], rng)
    p_open = world.open_prob(subjects)[who, s_idx]
    p_click = world.click_given_open(cats)[who, c_idx]
    opened = rng.random(len(who)) < p_open
    rendered = world.render(subjects)[who, s_idx]
    return pd.DataFrame({
        "customer": who, "sent_at": t0 + rng.uniform(0, DAY, len(who)), "subject": rendered,
        "category": np.array(cats, dtype=object)[c_idx], "opened": opened,
        "clicked": opened & (rng.random(len(who)) < p_click), "subject_index": s_idx,
        "subject_propensity": subject_policy[who, s_idx], "category_index": c_idx,
        "category_propensity": category_policy[who, c_idx],
    })


def _rates(p_open: np.ndarray, p_click: np.ndarray, pi_s: np.ndarray, pi_c: np.ndarray) -> tuple[float, float]:
    """True expected human open and click rates when subjects ~ pi_s and categories ~ pi_c."""
    opens = (pi_s * p_open).sum(axis=1)
    return float(opens.mean()), float((opens * (pi_c * p_click).sum(axis=1)).mean())


def _one_hot(best: np.ndarray, k: int) -> np.ndarray:
    return np.eye(k)[best]


def evaluate_seed(seed: int, n_customers: int = 20000, epsilon: float = 0.05) -> dict[str, float]:
    """Fit on a seeded world's history, plan the new campaign, score every policy against the truth."""
    world = generate_content_world(n_customers, seed)
    subject_model = fit_subject_model(world.history, world.customers, world.now, seed=seed)
    category_model = fit_category_model(world.history, world.customers, world.now, seed=seed)
    ctx = world.contexts()
    rendered = world.render(NEW_SUBJECTS)
    p_open, p_click = world.open_prob(NEW_SUBJECTS), world.click_given_open(NEW_CATEGORIES)
    n, ks, kc = n_customers, len(NEW_SUBJECTS), len(NEW_CATEGORIES)
    q_open = subject_model.predict(ctx, rendered)
    q_click = category_model.predict(ctx, list(NEW_CATEGORIES))
    pi_s, pi_c = action_probabilities(q_open, epsilon), action_probabilities(q_click, epsilon)
    h_open, h_click = history_posterior(world, NEW_SUBJECTS, NEW_CATEGORIES, seed=seed)
    best_s = int(p_open.mean(axis=0).argmax())
    single_c = (p_open[:, best_s : best_s + 1] * p_click).mean(axis=0).argmax()
    policies = {
        "sendwise": (pi_s, pi_c),
        "random": (uniform_policy(n, ks), uniform_policy(n, kc)),
        "best single": (constant_policy(n, ks, best_s), constant_policy(n, kc, int(single_c))),
        "knowable": (_one_hot(world.open_prob(NEW_SUBJECTS, knowable=True).argmax(axis=1), ks),
                     _one_hot(world.click_given_open(NEW_CATEGORIES, knowable=True).argmax(axis=1), kc)),
        "history": (_one_hot(h_open.argmax(axis=1), ks), _one_hot(h_click.argmax(axis=1), kc)),
        "oracle": (_one_hot(p_open.argmax(axis=1), ks), _one_hot(p_click.argmax(axis=1), kc)),
        "greedy": (action_probabilities(q_open, 0.0), action_probabilities(q_click, 0.0)),
    }
    out: dict[str, float] = {"seed": seed}
    for name, (ps, pc) in policies.items():
        out[f"{name} open"], out[f"{name} click"] = _rates(p_open, p_click, ps, pc)
    for metric in ("open", "click"):
        lift = out[f"oracle {metric}"] - out[f"random {metric}"]
        for name in ("sendwise", "best single", "knowable", "history", "greedy"):
            out[f"{name} captured {metric}"] = (out[f"{name} {metric}"] - out[f"random {metric}"]) / lift
    out["subject auc"] = subject_model.metrics.get("auc", float("nan"))
    out["subject base ll"] = subject_model.metrics.get("baseline_log_loss", float("nan"))
    out["subject ll"] = subject_model.metrics.get("log_loss", float("nan"))
    out["category auc"] = category_model.metrics.get("auc", float("nan"))
    out.update(_offpolicy_check(world, subject_model, rendered, p_open, pi_s, seed))
    return out


def _offpolicy_check(world: ContentWorld, model: FittedModel, rendered: np.ndarray, p_open: np.ndarray,
                     pi_s: np.ndarray, seed: int) -> dict[str, float]:
    """Log the new campaign under sendwise's policy, then estimate three policies' open rates."""
    rng = np.random.default_rng(seed + 10_000)
    n, k = p_open.shape
    logged = _send(world, NEW_SUBJECTS, NEW_CATEGORIES, pi_s, uniform_policy(n, len(NEW_CATEGORIES)), rng,
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


SHARE_COLUMNS = ("best single", "sendwise", "greedy", "knowable", "history")


def run_content_simulation(seeds: tuple[int, ...] = (1, 2, 3), n_customers: int = 20000) -> str:
    """Plain-text report: each policy's true open/click rates per seed, and off-policy estimates vs truth."""
    results = [evaluate_seed(s, n_customers) for s in seeds]
    lines = [f"content simulation: {n_customers} customers, epsilon 0.05, subject 1 never seen in history", ""]
    policies, shared = ("random", "best single", "sendwise", "knowable", "history", "oracle"), SHARE_COLUMNS
    lines.append(f"{'seed':>4} {'rate':<6}" + "".join(f"{p:>12}" for p in policies)
                 + "   share of oracle lift over random: " + " / ".join(shared))
    for r in results:
        for m in ("open", "click"):
            shares = " / ".join(f"{r[f'{p} captured {m}']:.1%}" for p in shared)
            lines.append(f"{int(r['seed']):>4} {m:<6}" + "".join(f"{r[f'{p} {m}']:>12.4f}" for p in policies)
                         + f"   {shares}")
    lines += ["knowable: knows the true taste that segment label and attributes imply, not personal quirks",
              "history: Bayes posterior given the true world model, label, attributes and the customer's own",
              "  logged sends/opens/clicks (the ceiling of any honest model); greedy: sendwise without exploration"]
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


if __name__ == "__main__":
    print(run_content_simulation())
