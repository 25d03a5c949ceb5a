"""The hashing trick for tokens and token crosses, vectorised over ragged token lists.

Tokens (segment, attributes, subject words and flags, category names) are hashed into one
weight space of `N_HASH` buckets; a cross of a customer token g with an item token f gets its
own bucket from a mix of both hashes, so "bargain hunter x discount" is one learnable weight
without ever enumerating the cross vocabulary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils import murmurhash3_32

N_HASH = 2**20
_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class TokenMatrix:
    """Ragged token lists in CSR form: row i holds vocab ids `ids[indptr[i]:indptr[i+1]]`."""

    indptr: np.ndarray  # (m+1,) int64
    ids: np.ndarray  # (nnz,) int64 into vocab
    vocab: list[str]
    vocab_hash: np.ndarray  # (len(vocab),) uint64, murmur hash of each vocab token
    vocab_weight: np.ndarray  # (len(vocab),) feature value of each vocab token
    cross_scale: np.ndarray | None = None  # (len(vocab),) extra factor on the token's crosses (None: 1)

    @property
    def cross_weight(self) -> np.ndarray:
        """Feature value of each vocab token in its crosses."""
        return self.vocab_weight if self.cross_scale is None else self.vocab_weight * self.cross_scale

    @property
    def values(self) -> np.ndarray:
        """Feature value of every stored token."""
        return self.vocab_weight[self.ids]

    @property
    def n_rows(self) -> int:
        return len(self.indptr) - 1

    def row_of_entry(self) -> np.ndarray:
        """Row index of every stored token."""
        return np.repeat(np.arange(self.n_rows), np.diff(self.indptr))

    def take(self, rows: np.ndarray) -> TokenMatrix:
        """The token lists of `rows` (repeats allowed), sharing the vocabulary."""
        starts, lengths = self.indptr[rows], np.diff(self.indptr)[rows]
        return TokenMatrix(
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            self.ids[ragged_arange(starts, lengths)],
            self.vocab,
            self.vocab_hash,
            self.vocab_weight,
            self.cross_scale,
        )


def hash_tokens(tokens: Sequence[str]) -> np.ndarray:
    """32-bit murmur hash of each token (as uint64)."""
    return np.fromiter((murmurhash3_32(t, seed=7, positive=True) for t in tokens), np.uint64, len(tokens))


def token_matrix(rows: Sequence[Sequence[str]]) -> TokenMatrix:
    """Factorise ragged token lists (hashing each distinct token once)."""
    lengths = np.fromiter((len(r) for r in rows), np.int64, len(rows))
    flat = [t for r in rows for t in r]
    codes, uniques = pd.factorize(pd.Series(flat, dtype=object)) if flat else (np.zeros(0, np.int64), [])
    vocab = [str(u) for u in uniques]
    return TokenMatrix(
        np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
        np.asarray(codes, dtype=np.int64),
        vocab,
        hash_tokens(vocab),
        np.ones(len(vocab)),
    )


def slot_token_matrix(slots: Sequence[tuple[np.ndarray, Sequence[str]]], n_rows: int) -> TokenMatrix:
    """Token matrix from "slots": each slot gives every row at most one token, as codes (-1: none)
    into that slot's own token list. Vectorised, for a million customers x a few slots."""
    vocab: list[str] = []
    cols = []
    for codes, tokens in slots:
        cols.append(np.where(codes >= 0, codes + len(vocab), -1))
        vocab.extend(tokens)
    matrix = np.column_stack(cols) if cols else np.full((n_rows, 0), -1)
    present = matrix >= 0
    ids = matrix[present]  # row-major: the tokens of row 0, then row 1, ...
    codes, uniques = pd.factorize(pd.Series(vocab, dtype=object)) if vocab else (np.zeros(0, np.int64), [])
    vocab = [str(u) for u in uniques]
    return TokenMatrix(
        np.concatenate([[0], np.cumsum(present.sum(axis=1))]).astype(np.int64),
        np.asarray(codes, dtype=np.int64)[ids],
        vocab,
        hash_tokens(vocab),
        np.ones(len(vocab)),
    )


def ragged_arange(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(s, s+l) for each (s, l), without a Python loop."""
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(np.asarray(starts, dtype=np.int64), lengths) + (np.arange(total) - offsets)


def main_buckets(hashes: np.ndarray) -> np.ndarray:
    """Weight bucket of a single token."""
    return (hashes % np.uint64(N_HASH)).astype(np.int64)


def cross_buckets(g_hash: np.ndarray, f_hash: np.ndarray) -> np.ndarray:
    """Weight bucket of the cross of customer token(s) g with item token(s) f (broadcasts)."""
    with np.errstate(over="ignore"):
        mixed = (g_hash * _MIX) ^ (f_hash + np.uint64(0x632BE59BD9B4E019))
        mixed ^= mixed >> np.uint64(29)
        mixed = mixed * _MIX
    return ((mixed >> np.uint64(20)) % np.uint64(N_HASH)).astype(np.int64)


def cross_entries(ctx: TokenMatrix, items: TokenMatrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, bucket, value) of every g x f cross for aligned rows of `ctx` and `items`."""
    n_f = np.diff(items.indptr)
    # first expand each row into its customer tokens, then each of those into the row's item tokens
    g_pos = np.arange(len(ctx.ids))
    g_row = ctx.row_of_entry()
    reps = n_f[g_row]
    f_pos = ragged_arange(items.indptr[:-1][g_row], reps)
    g_pos = np.repeat(g_pos, reps)
    rows = np.repeat(g_row, reps)
    g_ids, f_ids = ctx.ids[g_pos], items.ids[f_pos]
    vals = ctx.cross_weight[g_ids] * items.cross_weight[f_ids]
    keep = vals != 0.0  # tokens that are not crossed (cross weight 0) add no entries
    buckets = cross_buckets(ctx.vocab_hash[g_ids[keep]], items.vocab_hash[f_ids[keep]])
    return rows[keep], buckets, vals[keep]
