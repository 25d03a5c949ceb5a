"""Features of the things we choose between: subject lines (from their text) and content categories.

A subject line is described only by its rendered text, so a line never seen in history still
gets features: hashed word 1-2-grams (sklearn `HashingVectorizer`), its length, numbers and
discounts, the customer's first name, questions, urgency words, emoji. The first name is
replaced by a placeholder token before featurising, so "Anna, 30% off" and "Ben, 30% off" are
one line to the model (and one row to score).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from app.propensity.hashing import N_HASH, TokenMatrix, main_buckets, token_matrix

FIRST_NAME_TOKEN = "__fname__"  # noqa: S105 - a placeholder word, not a secret
_WORD_OR_SYMBOL = r"(?u)\b\w+\b|[%€$£!?]"
_VECTORIZER = HashingVectorizer(
    n_features=N_HASH, ngram_range=(1, 2), alternate_sign=False, norm=None, binary=True,
    token_pattern=_WORD_OR_SYMBOL,
)
_WORDS = re.compile(r"(?u)\b\w+\b")
_FLAGS: dict[str, re.Pattern[str]] = {
    "percent": re.compile(r"\d\s?%|\bpercent\b", re.I),
    "currency": re.compile(r"[€$£]|\b(eur|usd|gbp)\b", re.I),
    "number": re.compile(r"\d"),
    "discount": re.compile(
        r"\d\s?%|\b(off|sale|discount|save|savings|deal|deals|coupon|promo|free|clearance|bogo)\b|[€$£]\s?\d",
        re.I,
    ),
    "question": re.compile(r"\?"),
    "exclaim": re.compile(r"!"),
    "urgency": re.compile(
        r"\b(last|hurry|today|tonight|now|ends?|ending|final|limited|expires?|expiring|soon|deadline|"
        r"hours? left|don'?t miss|only \d+|24h|48h)\b",
        re.I,
    ),
    "emoji": re.compile("[\U0001f300-\U0001faff\u2600-\u27bf\U0001f000-\U0001f2ff]"),
    "caps": re.compile(r"\b[A-Z]{3,}\b"),
}
N_SUBJECT_DENSE = len(_FLAGS) + 3  # flags, has first name, length, word count
SUBJECT_FLAGS: tuple[str, ...] = (*_FLAGS, "name")  # what `subject_flags` reports, in this order
# Words get a smaller feature value than flags, i.e. a stronger effective L2 prior: history has few
# distinct subject lines, and we want their effects explained by flags (discount, name, urgency, ...)
# wherever the data allow, because flags carry over to lines never seen before; words only
# take up what flags cannot explain.
WORD_WEIGHT = 0.15
FLAG_WEIGHT = 2.0


@dataclass
class ItemFeatures:
    """Features of U distinct items: main-effect buckets, dense features, crossable tokens."""

    main: sp.csr_matrix  # (U, N_HASH)
    dense: np.ndarray  # (U, d_item)
    cross_tokens: TokenMatrix
    flags: np.ndarray | None = None  # (U, len(SUBJECT_FLAGS)) of subject lines (`subject_flags`); None otherwise


def normalize_subjects(texts: Sequence[str], first_names: Sequence[object]) -> list[str]:
    """Replace each customer's first name in their rendered subject by `FIRST_NAME_TOKEN`."""
    out: list[str] = []
    for text, name in zip(texts, first_names, strict=True):
        t = str(text) if text is not None else ""
        if isinstance(name, str) and len(name.strip()) >= 2:
            n = name.strip()
            t = t.replace(n, FIRST_NAME_TOKEN).replace(n.upper(), FIRST_NAME_TOKEN)
        out.append(t)
    return out


def subject_flags(texts: Sequence[str]) -> np.ndarray:
    """(U, len(SUBJECT_FLAGS)) booleans of distinct (name-normalised) subject lines: discount, question, ..., name."""
    rows = [[bool(p.search(t.replace(FIRST_NAME_TOKEN, "x"))) for p in _FLAGS.values()] + [FIRST_NAME_TOKEN in t]
            for t in (str(t) for t in texts)]
    return np.array(rows, dtype=bool).reshape(len(rows), len(SUBJECT_FLAGS))


def subject_item_features(texts: Sequence[str]) -> ItemFeatures:
    """Features of distinct (name-normalised) subject lines."""
    texts = [str(t) for t in texts]
    flags = subject_flags(texts)
    flag_rows, has_name = flags[:, :-1], flags[:, -1]
    n_chars = np.array([len(t.replace(FIRST_NAME_TOKEN, "namexx")) for t in texts], dtype=float)
    n_words = np.array([len(_WORDS.findall(t)) for t in texts], dtype=float)
    dense = np.column_stack(
        [FLAG_WEIGHT * flag_rows, FLAG_WEIGHT * has_name, n_chars / 60.0, n_words / 10.0]
    ).reshape(len(texts), N_SUBJECT_DENSE)
    flag_names = list(_FLAGS)
    token_rows: list[list[str]] = []
    for i, t in enumerate(texts):
        toks = [f"f:{flag_names[j]}" for j in np.flatnonzero(flag_rows[i])]
        if has_name[i]:
            toks.append("f:name")
        toks.append(f"len~{min(int(n_chars[i] // 15), 5)}")
        toks.extend(sorted({f"w:{w.lower()}" for w in _WORDS.findall(t)}))
        token_rows.append(toks)
    cross = token_matrix(token_rows)
    cross.vocab_weight = np.array([WORD_WEIGHT if t.startswith("w:") else 1.0 for t in cross.vocab])
    ngrams = WORD_WEIGHT * _VECTORIZER.transform(texts).tocsr() if texts else sp.csr_matrix((0, N_HASH))
    return ItemFeatures(main=ngrams + _token_main(cross), dense=dense, cross_tokens=cross, flags=flags)


def category_item_features(categories: Sequence[str]) -> ItemFeatures:
    """Features of distinct content categories: a token per category (its main effect and crosses)."""
    tokens = token_matrix([[f"cat={str(c).strip().lower()}"] for c in categories])
    return ItemFeatures(main=_token_main(tokens), dense=np.zeros((len(categories), 0)), cross_tokens=tokens)


def category_pair_features(cat_clicks: np.ndarray, clicks: np.ndarray) -> np.ndarray:
    """The customer's own history with a category: (..., 3) log clicks, share of clicks, any click."""
    cc = np.asarray(cat_clicks, dtype=float)
    total = np.maximum(np.asarray(clicks, dtype=float), 1.0)
    if cc.ndim == 2:
        total = total[:, None]
    return np.stack([np.log1p(cc), cc / total, (cc > 0).astype(float)], axis=-1)


def _token_main(tokens: TokenMatrix) -> sp.csr_matrix:
    cols = main_buckets(tokens.vocab_hash[tokens.ids])
    data = tokens.values
    m = sp.csr_matrix((data, cols, tokens.indptr), shape=(tokens.n_rows, N_HASH))
    m.sum_duplicates()
    return m
