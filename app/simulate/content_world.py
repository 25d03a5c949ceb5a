"""The simulated content world: customers with latent tastes, a logged history, and honest ceilings.

Customers have latent tastes (bargain hunters love discount subjects, outdoor and fashion lovers click
their category, some respond to their first name, age and loyalty tier shift tastes, and in the
default scenario the shop's data: buyers like their main purchase category more, discount-popup
signups like discounts more); past campaigns sent subject lines and categories uniformly at random.
Scenarios (`SCENARIOS`): "default" (about 24 sends a customer in 84 days, shop data) and "sparse"
(the first, harder world: about 10 sends, no shop data). `history_posterior` is the Bayes posterior of
a customer's taste given the true world model and their own logged history: the ceiling of any
honest model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from app.propensity import CONTEXT_COLUMNS
from app.propensity.personal import subject_history_by_customer
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
    segment_posterior: np.ndarray  # (n, len(SEGMENTS)) P(segment | label, attributes)
    subject_quality: dict[str, float]
    scanner: np.ndarray | None = None  # (n,) behind a link-scanning security gateway
    timing_rng: np.random.Generator | None = None  # delays and scanner fetches: their own stream
    taste_strength: float = 1.0

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
        counts, has = subject_history_by_customer(
            h["customer"].to_numpy(), h["subject"].tolist(),
            self.customers["first_name"].reindex(h["customer"].to_numpy()).tolist(), h["opened"].to_numpy(), n)
        out["subject_history"] = [counts[i] if has[i] else None for i in range(n)]
        engaged = h[h["opened"] | h["clicked"]].groupby("customer")["sent_at"].max()
        out["last_engaged_days"] = ((self.now - engaged) / DAY).reindex(range(n)).to_numpy()
        return out[list(CONTEXT_COLUMNS)]


@dataclass(frozen=True)
class WorldParams:
    """A scenario's knobs. The default is a realistic 90-day list (README, "the content world"):
    about 2.5 sends a week, and the shop's own data on each customer (main purchase category,
    signup source). "sparse" is the first, harder world: one send a week and no shop data."""

    n_campaigns: int = 30  # past campaigns over `history_days`; each reaches 80% of the list
    history_days: float = 84.0
    buyer_share: float = 0.65  # customers with past orders: attribute main_category
    main_category_lift: float = 1.2  # extra click|open logit for the main purchase category (= segment lift)
    popup_share: tuple[float, ...] = (0.5, 0.15, 0.15, 0.15, 0.15)  # P(signup via discount popup | segment)
    popup_lift: float = 0.5  # extra discount-subject logit of those customers
    # dials (issue: lists the simulator was not tuned on)
    scanner_share: float = 0.0  # recipients behind a gateway that fetches every link 1-60 s after delivery
    taste_strength: float = 1.0  # scale of the tastes the segment label carries (category and subject kinds)
    campaign_blocks: int = 4  # blocks a past campaign drew from at random (1: the same block for everyone)
    trait_strength: float = 0.0  # sd of hidden traits (price sensitivity, ...) moving discount, urgency, name
    #                              and question lines: no attribute holds them, only the customer's history


SCENARIOS: dict[str, WorldParams] = {
    "default": WorldParams(),
    "sparse": WorldParams(n_campaigns=12, buyer_share=0.0, popup_share=(0.0,) * len(SEGMENTS)),
}


def generate_content_world(n_customers: int = 20000, seed: int = 0, n_campaigns: int | None = None,
                           scenario: str = "default", **dials: Any) -> ContentWorld:
    """A seeded world of a scenario and its history of past campaigns with random choices.

    `n_campaigns` overrides the scenario's (over the same number of days); `dials` override other
    `WorldParams` fields (scanner_share, taste_strength, trait_strength).
    """
    par = replace(SCENARIOS[scenario], **dials)
    if n_campaigns is not None:
        par = replace(par, n_campaigns=n_campaigns)
    rng, shop = np.random.default_rng(seed), np.random.default_rng([seed, 7])  # shop data: own stream
    n = n_customers
    seg = rng.choice(len(SEGMENTS), size=n, p=SEGMENT_SHARE)
    age = rng.integers(18, 76, size=n)
    tier = rng.choice(["basic", "silver", "gold"], size=n, p=[0.6, 0.25, 0.15])
    prop_noise = rng.normal(0, PROP_SD, size=(n, len(PROPS)))  # personal quirks no feature reveals
    category_noise = rng.normal(0, CATEGORY_SD, size=(n, len(CATEGORIES)))
    seen = rng.random(n) < 0.85  # the segment label is known for 85% of customers
    observed = np.array(SEGMENTS, dtype=object)[seg]
    observed[~seen] = None
    seg_lift = _segment_lift() * par.taste_strength
    seg_effect = SEGMENT_EFFECT * par.taste_strength
    # "knowable" tastes: what segment label and attributes tell (for unlabeled customers, the
    # segment's posterior given their attributes)
    attr_prop = np.zeros((n, len(PROPS)))
    attr_prop[:, 0] -= 0.4 * (tier == "gold")
    attr_prop[:, 4] += np.where(age < 30, 0.5, np.where(age > 55, -0.4, 0.0))
    attr_prop[:, 3] += 0.2 * (age > 55)
    attr_cat = np.zeros((n, len(CATEGORIES)))
    for cat, lift, who in (("kids", 0.6, (age >= 30) & (age < 45)), ("beauty", 0.3, age < 30),
                           ("fashion", 0.3, age < 30), ("home", 0.5, age > 55), ("outdoor", 0.3, tier == "gold")):
        attr_cat[who, CATEGORIES.index(cat)] += lift
    # shop data: signup source (bargain hunters come through the discount popup more often) and, for
    # buyers, the main purchase category (drawn from the tastes above); each adds to the taste it reveals
    p_popup = np.array(par.popup_share)
    popup = shop.random(n) < p_popup[seg]
    buy_logit = CATEGORY_EFFECT + seg_lift[None, :, :] + attr_cat[:, None, :]  # (n, segment, category)
    buy_p = np.exp(buy_logit) / np.exp(buy_logit).sum(axis=2, keepdims=True)
    buyer = shop.random(n) < par.buyer_share
    main = (buy_p[np.arange(n), seg].cumsum(axis=1) <= shop.random(n)[:, None]).sum(axis=1).clip(0, 5)
    attr_prop[:, 0] += par.popup_lift * popup
    attr_cat[np.flatnonzero(buyer), main[buyer]] += par.main_category_lift
    like = np.where(popup[:, None], p_popup, 1 - p_popup) * np.where(
        buyer[:, None], buy_p[np.arange(n), :, main], 1.0)
    post = np.array(SEGMENT_SHARE) * like
    post = np.where(seen[:, None], np.eye(len(SEGMENTS))[seg], post / post.sum(axis=1, keepdims=True))
    traits = np.random.default_rng([seed, 13]).normal(0, 1, size=(n, 3)) * par.trait_strength
    hidden = np.column_stack([traits[:, 0], traits[:, 2], 0.7 * traits[:, 0], traits[:, 1], np.zeros(n)])
    prop_effect = GLOBAL_EFFECT + seg_effect[seg] + attr_prop + prop_noise + hidden
    category_pref = CATEGORY_EFFECT + seg_lift[seg] + attr_cat + category_noise
    knowable_prop = GLOBAL_EFFECT + post @ seg_effect + attr_prop
    knowable_cat = CATEGORY_EFFECT + post @ seg_lift + attr_cat
    first = rng.choice(np.array(FIRST_NAMES, dtype=object), size=n)
    first[rng.random(n) >= 0.9] = None
    attributes = [{"age": int(a), "tier": str(t), "city": f"city{c}"}
                  for a, t, c in zip(age, tier, rng.integers(0, 8, size=n), strict=True)]
    if p_popup.any():
        for a, p in zip(attributes, popup, strict=True):
            a["signup"] = "discount popup" if p else "organic"
    for i in np.flatnonzero(buyer):
        attributes[i]["main_category"] = CATEGORIES[main[i]]
    customers = pd.DataFrame({"segment": observed, "first_name": first, "attributes": attributes})
    all_subjects = {t for t, _ in HISTORY_SUBJECTS + NEW_SUBJECTS}
    world = ContentWorld(
        customers=customers, history=pd.DataFrame(), now=0.0,
        base_open=rng.normal(*BASE_OPEN, size=n), base_click=rng.normal(*BASE_CLICK, size=n),
        prop_effect=prop_effect, category_pref=category_pref,
        knowable_prop=knowable_prop, knowable_cat=knowable_cat, segment_posterior=post,
        subject_quality={t: float(rng.normal(0, 0.1)) for t in sorted(all_subjects)},
        scanner=np.random.default_rng([seed, 17]).random(n) < par.scanner_share,
        timing_rng=np.random.default_rng([seed, 19]), taste_strength=par.taste_strength,
    )
    start, gap = 1_700_000_000.0, par.history_days / par.n_campaigns * DAY
    frames = []
    for c in range(par.n_campaigns):
        subjects = tuple(HISTORY_SUBJECTS[i] for i in rng.choice(len(HISTORY_SUBJECTS), 4, replace=False))
        kb = par.campaign_blocks
        cats = tuple(CATEGORIES[i] for i in rng.choice(len(CATEGORIES), kb, replace=False))
        frames.append(send_campaign(world, subjects, cats, np.full((n, 4), 0.25), np.full((n, kb), 1.0 / kb), rng,
                            start + c * gap))
    world.history = pd.concat(frames, ignore_index=True)
    world.now = start + par.history_days * DAY
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
    rng, cust, post = np.random.default_rng(seed), world.customers, world.segment_posterior
    lift, seg_effect = _segment_lift() * world.taste_strength, SEGMENT_EFFECT * world.taste_strength
    cdf = np.cumsum(post, axis=1)
    cdf /= cdf[:, -1:]
    attr_prop = world.knowable_prop - GLOBAL_EFFECT - post @ seg_effect
    attr_cat = world.knowable_cat - CATEGORY_EFFECT - post @ lift
    has_name = cust["first_name"].notna().to_numpy()
    h = world.history.sort_values("customer", kind="stable")
    hc, opened, clicked = h["customer"].to_numpy(), h["human_opened"].to_numpy(), h["human_clicked"].to_numpy()
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
        s = (cdf[a:b, None, :] <= rng.random((m, samples))[..., None]).sum(axis=2).clip(0, len(SEGMENTS) - 1)
        eff = GLOBAL_EFFECT + seg_effect[s] + attr_prop[a:b, None] + rng.normal(0, PROP_SD, (m, samples, 5))
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


def send_campaign(world: ContentWorld, subjects: tuple[tuple[str, tuple[int, ...]], ...], cats: tuple[str, ...],
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
    frame = pd.DataFrame({
        "customer": who, "sent_at": t0 + rng.uniform(0, DAY, len(who)), "subject": rendered,
        "category": np.array(cats, dtype=object)[c_idx], "opened": opened,
        "clicked": opened & (rng.random(len(who)) < p_click), "subject_index": s_idx,
        "subject_propensity": subject_policy[who, s_idx], "category_index": c_idx,
        "category_propensity": category_policy[who, c_idx],
    })
    return _with_timing(world, frame)


SCANNER_CLICK_SHARE, SCANNER_IMAGE_SHARE = 0.9, 0.6  # a gateway's fetches: links of 90% of emails, images of 60%


def _with_timing(world: ContentWorld, frame: pd.DataFrame) -> pd.DataFrame:
    """Seconds from delivery to the recorded open and click, as an ESP export has them, and the gateway's
    fetches for customers behind one: recorded `opened` / `clicked` then include machine ones, `human_opened`
    / `human_clicked` keep the truth. Readers open hours later (3 h on average) and click 20-600 s after."""
    rng = world.timing_rng or np.random.default_rng(0)
    m = len(frame)
    open_s = 60.0 + rng.exponential(3 * 3600.0, m)
    click_s = open_s + rng.uniform(20.0, 600.0, m)
    human_o, human_c = frame["opened"].to_numpy(), frame["clicked"].to_numpy()
    frame["human_opened"], frame["human_clicked"] = human_o, human_c
    open_delay = np.where(human_o, open_s, np.nan)
    click_delay = np.where(human_c, click_s, np.nan)
    scanned = np.zeros(m, dtype=bool) if world.scanner is None else world.scanner[frame["customer"].to_numpy()]
    bot_click = scanned & (rng.random(m) < SCANNER_CLICK_SHARE)
    fetch = rng.uniform(1.0, 60.0, m)
    bot_open = bot_click & (rng.random(m) < SCANNER_IMAGE_SHARE)
    frame["click_delay_s"] = np.where(bot_click, fetch, click_delay)  # the first click is the gateway's
    frame["open_delay_s"] = np.where(bot_open, fetch, open_delay)
    frame["opened"] = human_o | bot_open
    frame["clicked"] = human_c | bot_click
    return frame

