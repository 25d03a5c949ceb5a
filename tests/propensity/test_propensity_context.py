"""Context tokens: the vectorised (per attribute key) tokeniser equals a plain per-customer one."""

from collections.abc import Mapping

import numpy as np

from app.propensity.context import _scalar_attribute_tokens, context_features


def _reference_tokens(segment, attrs) -> set[str]:
    toks = {f"seg={segment.strip().lower()}" if isinstance(segment, str) and segment else "seg=_none"}
    if isinstance(attrs, Mapping):
        for key, value in attrs.items():
            if value is None or isinstance(value, dict | list | tuple | set):
                continue
            toks.update(_scalar_attribute_tokens(str(key), value))
    return toks


def test_vectorised_tokens_match_the_per_customer_definition():
    segments = ["Bargain Hunters", None, "", "regulars", "bargain hunters ", None, "x", "y"]
    attributes = [
        {"age": 34, "tier": "gold", "vip": True},
        {"age": 71.5, "tier": "basic", "flag": 1},
        {"flag": True, "tags": ["a", "b"], "age": float("nan")},
        None,
        {"spend": -120.0, "nested": {"a": 1}, "city": "  Berlin "},
        "not a dict",
        {"age": np.int64(40), "flag": None},
        {},
    ]
    n = len(segments)
    ctx = context_features(segments, attributes, np.zeros(n), np.zeros(n), np.zeros(n), np.full(n, np.nan), 0.2, 0.03)
    t = ctx.tokens
    for i in range(n):
        got = {t.vocab[j] for j in t.ids[t.indptr[i] : t.indptr[i + 1]]}
        got = {g for g in got if not g.startswith(("eo=", "ec="))}
        assert got == _reference_tokens(segments[i], attributes[i]), i
    # True and 1 stay different tokens even in one column; numbers get a coarse and a fine bin
    assert "a:flag=true" in t.vocab and "a:flag~2" in t.vocab
    assert "a:age~10" in t.vocab and "a:age~~20" in t.vocab


def test_version_1_models_get_the_features_they_were_trained_on():
    args = (["a", None], [{"age": 34}, {}], np.array([3.0, 0.0]), np.ones(2), np.zeros(2), np.full(2, 5.0), 0.2, 0.03)
    old, new = context_features(*args, version=1), context_features(*args)
    assert not any("~~" in t for t in old.tokens.vocab) and any("~~" in t for t in new.tokens.vocab)
    engagement = [i for i, t in enumerate(old.tokens.vocab) if t[:3] in ("eo=", "ec=")]
    assert (old.tokens.cross_weight[engagement] == 1.0).all()
    assert (new.tokens.cross_weight[[new.tokens.vocab.index(old.tokens.vocab[i]) for i in engagement]] == 0.0).all()
