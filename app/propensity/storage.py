"""Stored form of a fitted propensity model: arrays in NumPy's `.npz` (read with `allow_pickle=False`)
and the scalars as JSON, behind a magic header. No pickle: a row written to the database by someone
else can at worst be refused, never run code."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

MAGIC = b"SWPM"
STORAGE_VERSION = 2  # 1: a zlib-compressed pickle (refused since; converted by migration 0009)
HEADER = MAGIC + bytes([STORAGE_VERSION])
ARRAYS = ("dense_coef", "hash_idx", "hash_val")
MAX_BLOB_BYTES = 64 * 1024 * 1024


class ModelFormatError(ValueError):
    """A stored model that this version refuses to load (unknown, legacy or malformed)."""


def encode_state(state: dict[str, Any]) -> bytes:
    """`HEADER` + an `.npz` holding the arrays of `ARRAYS` and the rest of `state` as JSON bytes."""
    meta = {k: v for k, v in state.items() if k not in ARRAYS}
    buf = io.BytesIO()
    arrays: dict[str, Any] = {k: np.asarray(state[k]) for k in ARRAYS}
    arrays["meta"] = np.frombuffer(json.dumps(meta, default=_plain).encode(), dtype=np.uint8)
    np.savez_compressed(buf, **arrays)
    return HEADER + buf.getvalue()


def _plain(value: Any) -> Any:
    """NumPy scalars and arrays in metrics as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} cannot be stored in a model")


def decode_state(blob: bytes) -> dict[str, Any]:
    """Inverse of `encode_state`; `ModelFormatError` for anything else (a pickle included)."""
    if len(blob) > MAX_BLOB_BYTES:
        raise ModelFormatError("stored model larger than 64 MB; refit the model")
    if not blob.startswith(MAGIC):
        raise ModelFormatError("stored model is not in the pickle-free format (a legacy pickle or foreign "
                               "data); it is refused and never loaded: refit the model")
    if blob[len(MAGIC):len(HEADER)] != bytes([STORAGE_VERSION]):
        raise ModelFormatError(f"stored model has an unknown storage version {blob[len(MAGIC)]}; refit the model")
    try:
        with np.load(io.BytesIO(blob[len(HEADER):]), allow_pickle=False) as npz:
            meta = json.loads(bytes(npz["meta"].astype(np.uint8)).decode())
            arrays = {k: np.asarray(npz[k]) for k in ARRAYS}
    except (ValueError, KeyError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"stored model is malformed: {type(exc).__name__}; refit the model") from None
    if not isinstance(meta, dict) or any(a.dtype == object for a in arrays.values()):
        raise ModelFormatError("stored model is malformed; refit the model")
    return {**meta, **arrays}
