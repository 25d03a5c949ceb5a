"""Propensity models stored without pickle; revocable named API keys with server-side dashboard
sessions; campaigns paused with an alert when their messages keep failing.

Stored propensity models (`model_version` rows of kind `subject`/`category`) were zlib-compressed
pickles. Each is converted to the pickle-free format (an `.npz` read with `allow_pickle=False`, behind
the `SWPM` header, storage version 2). The old blob is read by an unpickler that resolves only the
NumPy names an array needs, so a crafted row cannot run code here either: a blob it refuses is
removed and the row marked `refit_needed` (the next nightly fit, or `sendwise fit`, replaces it).

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03 19:30:00
"""
from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSONType = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
HEADER = b"SWPM" + bytes([2])
ARRAYS = ("dense_coef", "hash_idx", "hash_val")
# What pickling a dict of float arrays, str, float and int needs, and nothing else.
ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f"refused {module}.{name}")
        return super().find_class(module, name)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def convert(blob_b64: str) -> str:
    """The pickle-free form of a legacy blob (ValueError if it is not a model this service wrote)."""
    raw = base64.b64decode(blob_b64)
    if raw.startswith(HEADER):
        return blob_b64
    try:
        state = _ArraysOnly(io.BytesIO(zlib.decompress(raw))).load()
    except Exception as exc:  # noqa: BLE001 - anything unreadable is refused
        raise ValueError(str(exc)) from None
    if not isinstance(state, dict) or not all(isinstance(state.get(k), np.ndarray) for k in ARRAYS) \
            or any(state[k].dtype == object for k in ARRAYS):
        raise ValueError("not a stored propensity model")
    meta = _plain({k: v for k, v in state.items() if k not in ARRAYS})
    buf = io.BytesIO()
    np.savez_compressed(buf, meta=np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
                        **{k: state[k] for k in ARRAYS})
    return base64.b64encode(HEADER + buf.getvalue()).decode()


def _convert_models() -> None:
    bind = op.get_bind()
    mv = sa.table("model_version", sa.column("id", sa.String), sa.column("kind", sa.String),
                  sa.column("params", JSONType))
    rows = bind.execute(sa.select(mv.c.id, mv.c.params).where(mv.c.kind.in_(("subject", "category")))).all()
    for model_id, params in rows:
        if isinstance(params, str | bytes):
            params = json.loads(params)
        if not isinstance(params, dict) or not isinstance(params.get("blob"), str):
            continue
        try:
            new = {**params, "blob": convert(params["blob"])}
        except ValueError as exc:
            new = {k: v for k, v in params.items() if k != "blob"}
            new["refit_needed"] = f"stored model refused during conversion: {exc}"[:300]
        if new != params:
            bind.execute(mv.update().where(mv.c.id == model_id).values(params=new))


def upgrade() -> None:
    _convert_models()
    with op.batch_alter_table("api_key") as batch:
        batch.add_column(sa.Column("name", sa.String(length=100), nullable=False, server_default=""))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("api_key") as batch:
        batch.alter_column("name", server_default=None)
    op.create_table(
        "dashboard_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("api_key_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["api_key_id"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_dashboard_session_workspace_id", "dashboard_session", ["workspace_id"])
    op.create_index("ix_dashboard_session_api_key_id", "dashboard_session", ["api_key_id"])


def downgrade() -> None:
    # The pickle-free models stay as they are (the previous version cannot read them: refit after).
    op.drop_index("ix_dashboard_session_api_key_id", table_name="dashboard_session")
    op.drop_index("ix_dashboard_session_workspace_id", table_name="dashboard_session")
    op.drop_table("dashboard_session")
    with op.batch_alter_table("api_key") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("name")
