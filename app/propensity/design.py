"""The design matrix of (context, item) pairs, and its fast factorised scoring.

Columns: [context dense | item dense | pair dense | N_HASH hashed buckets]. The hashed part holds
context tokens (segment, attributes, engagement buckets), item tokens (subject n-grams and flags,
category names) and every context-token x item-token cross. Because the model is linear in these
columns, a score splits into context + item + cross parts, which `factorised_logits` computes once
per customer, once per distinct item and once per (customer-token, item) instead of per pair.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from app.propensity.context import ContextFeatures
from app.propensity.hashing import N_HASH, cross_buckets, cross_entries, main_buckets
from app.propensity.items import ItemFeatures

_FAST_PATH_MAX_CELLS = 40_000_000  # n x U floats held at once in the factorised path


def design_matrix(
    ctx: ContextFeatures,
    items: ItemFeatures,
    ctx_rows: np.ndarray,
    item_rows: np.ndarray,
    pair_dense: np.ndarray,
) -> sp.csr_matrix:
    """Sparse design matrix with one row per pair (ctx_rows[i], item_rows[i])."""
    m = len(ctx_rows)
    ctx_tokens = ctx.tokens.take(ctx_rows)
    item_tokens = items.cross_tokens.take(item_rows)
    c_rows = ctx_tokens.row_of_entry()
    c_cols = main_buckets(ctx_tokens.vocab_hash[ctx_tokens.ids])
    x_rows, x_cols, x_vals = cross_entries(ctx_tokens, item_tokens)
    hashed = sp.csr_matrix(
        (
            np.concatenate([ctx_tokens.values, x_vals]),
            (np.concatenate([c_rows, x_rows]), np.concatenate([c_cols, x_cols])),
        ),
        shape=(m, N_HASH),
    )
    hashed = hashed + items.main[item_rows]
    dense = np.hstack([ctx.dense[ctx_rows], items.dense[item_rows], pair_dense.reshape(m, -1)])
    return sp.hstack([sp.csr_matrix(dense), hashed], format="csr")


def linear_logits(x: sp.csr_matrix, intercept: float, dense_coef: np.ndarray, hash_coef: np.ndarray) -> np.ndarray:
    """x @ w + b for a design matrix built by `design_matrix`."""
    coef = np.concatenate([dense_coef, hash_coef])
    return np.asarray(x @ coef).ravel() + intercept


def factorised_logits(
    ctx: ContextFeatures,
    items: ItemFeatures,
    item_idx: np.ndarray,
    pair_dense: np.ndarray,
    intercept: float,
    dense_coef: np.ndarray,
    hash_coef: np.ndarray,
) -> np.ndarray:
    """Logits for every customer i and candidate j, item `item_idx[i, j]`: an (n, k) array.

    Equal to `linear_logits(design_matrix(...))` over all pairs, at a fraction of the cost.
    """
    n, k = item_idx.shape
    d_ctx, d_item = ctx.dense.shape[1], items.dense.shape[1]
    w_ctx, w_item, w_pair = dense_coef[:d_ctx], dense_coef[d_ctx : d_ctx + d_item], dense_coef[d_ctx + d_item :]
    n_items = items.main.shape[0]
    if n * n_items > _FAST_PATH_MAX_CELLS:
        return _chunked_logits(ctx, items, item_idx, pair_dense, intercept, dense_coef, hash_coef)
    tokens = ctx.tokens
    tok_main = hash_coef[main_buckets(tokens.vocab_hash)]  # weight of each context-token main effect
    c = sp.csr_matrix((tokens.values, tokens.ids, tokens.indptr), shape=(n, len(tokens.vocab)))
    ctx_part = ctx.dense @ w_ctx + c @ tok_main
    item_part = np.asarray(items.main @ hash_coef).ravel() + items.dense @ w_item
    # cross table: weight of context token g with item u, summed over u's crossable tokens
    it = items.cross_tokens
    w_gf = hash_coef[cross_buckets(tokens.vocab_hash[:, None], it.vocab_hash[None, :])]
    s = sp.csr_matrix((it.cross_weight[it.ids], it.ids, it.indptr), shape=(n_items, len(it.vocab)))
    table = np.asarray((s @ w_gf.T).T)  # (G, U)
    if tokens.cross_scale is not None:
        table = table * tokens.cross_scale[:, None]
    cross = np.asarray(c @ table)  # (n, U)
    rows = np.arange(n)[:, None]
    logits = intercept + ctx_part[:, None] + item_part[item_idx] + cross[rows, item_idx]
    if w_pair.size:
        logits = logits + pair_dense.reshape(n, k, -1) @ w_pair
    return np.asarray(logits)


def _chunked_logits(
    ctx: ContextFeatures,
    items: ItemFeatures,
    item_idx: np.ndarray,
    pair_dense: np.ndarray,
    intercept: float,
    dense_coef: np.ndarray,
    hash_coef: np.ndarray,
    chunk: int = 100_000,
) -> np.ndarray:
    """Fallback when almost every customer has their own text: score explicit design rows in chunks."""
    n, k = item_idx.shape
    ctx_rows = np.repeat(np.arange(n), k)
    item_rows = item_idx.ravel()
    pair = pair_dense.reshape(n * k, -1)
    out = np.empty(n * k)
    for start in range(0, n * k, chunk):
        sl = slice(start, start + chunk)
        x = design_matrix(ctx, items, ctx_rows[sl], item_rows[sl], pair[sl])
        out[sl] = linear_logits(x, intercept, dense_coef, hash_coef)
    return out.reshape(n, k)
