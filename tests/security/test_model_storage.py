"""Propensity models are stored without pickle: a crafted `model_version` row is refused, never run."""

import base64
import os
import pickle
import zlib

import numpy as np
import pytest
from sqlalchemy import create_engine, text

from app.propensity import FittedModel, ModelFormatError
from app.propensity.hashing import N_HASH
from tests.integration.helpers import campaign_body


class _Payload:
    """Unpickling this runs a shell command that creates `path`."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return os.system, (f"touch {self.path}",)


def _crafted_blob(marker) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps({"kind": "subject", "x": _Payload(marker)}))).decode()


def _model(seed: int = 0) -> FittedModel:
    rng = np.random.default_rng(seed)
    hash_coef = np.zeros(N_HASH)
    hash_coef[rng.choice(N_HASH, 500, replace=False)] = rng.normal(size=500).astype(np.float32)
    return FittedModel(kind="subject", intercept=-1.5, dense_coef=rng.normal(size=12), hash_coef=hash_coef,
                       open_prior=0.2, click_prior=0.03, metrics={"auc": 0.61, "rows_used": 900})


def _legacy_blob(model: FittedModel) -> str:
    """A model as the previous version stored it: a zlib-compressed pickle of its state."""
    nz = np.flatnonzero(model.hash_coef)
    state = {"kind": model.kind, "intercept": float(model.intercept), "dense_coef": model.dense_coef,
             "hash_idx": nz.astype(np.int32), "hash_val": model.hash_coef[nz].astype(np.float32),
             "open_prior": model.open_prior, "click_prior": model.click_prior,
             "metrics": {"auc": np.float64(0.61), "rows_used": 900}, "format_version": model.format_version}
    return base64.b64encode(zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 6)).decode()


def test_roundtrip_has_no_pickle_and_is_exact():
    model = _model()
    blob = model.to_bytes()
    assert blob.startswith(b"SWPM\x02") and b"\x80\x05" not in blob[:8]
    again = FittedModel.from_bytes(blob)
    np.testing.assert_array_equal(again.dense_coef, model.dense_coef)
    np.testing.assert_allclose(again.hash_coef, model.hash_coef, rtol=1e-7)
    assert again.metrics == model.metrics and again.kind == "subject" and again.intercept == -1.5


def test_crafted_pickle_is_refused_with_a_clear_error_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(ModelFormatError, match="refused and never loaded"):
        FittedModel.from_bytes(base64.b64decode(_crafted_blob(marker)))
    assert not marker.exists()
    for junk in (b"SWPM\x02garbage", b"SWPM\x09", b"", b"SWPM\x02" + b"PK\x03\x04" * 10):
        with pytest.raises(ModelFormatError):
            FittedModel.from_bytes(junk)


def test_crafted_model_row_is_refused_at_preview(client, auth, workspace, tmp_path):
    from app.core.db import session_scope
    from app.models import ModelVersion

    marker = tmp_path / "pwned"
    client.post("/v1/customers/batch", headers=auth, json={"customers": [
        {"external_id": "m1", "email": "m1@example.com"}]})
    cid = client.post("/v1/campaigns", headers=auth, json=campaign_body(subject_variants=["a", "b"])).json()["id"]
    with session_scope() as s:
        s.add(ModelVersion(workspace_id=workspace[0], kind="subject", version=99,
                           params={"blob": _crafted_blob(marker)}))
        s.commit()
    r = client.post(f"/v1/campaigns/{cid}/preview", headers=auth, json={"external_id": "m1"})
    assert r.status_code == 200, r.text
    assert not marker.exists()


def test_migration_converts_stored_pickles_and_drops_crafted_ones(tmp_path):
    if os.environ["DATABASE_URL"].startswith("postgres"):
        pytest.skip("the conversion is dialect-neutral; checked on SQLite")
    from alembic import command
    from app.platform.migrations import alembic_config

    url = f"sqlite:///{tmp_path / 'mig.db'}"
    command.upgrade(alembic_config(url), "0007")
    marker = tmp_path / "pwned"
    model = _model(3)
    eng = create_engine(url)
    ins = text("INSERT INTO model_version (id, workspace_id, kind, version, fitted_at, rows_used, metrics, params) "
               "VALUES (:id, 'w', :kind, :v, '2026-01-01 00:00:00', 0, '{}', :p)")
    import json

    with eng.begin() as conn:
        conn.execute(ins, [{"id": "good", "kind": "subject", "v": 1, "p": json.dumps({"blob": _legacy_blob(model)})},
                           {"id": "evil", "kind": "subject", "v": 2, "p": json.dumps({"blob": _crafted_blob(marker)})},
                           {"id": "time", "kind": "sendtime", "v": 1, "p": json.dumps({"half_life": 30})}])
    command.upgrade(alembic_config(url), "head")
    with eng.connect() as conn:
        params = {r[0]: json.loads(r[1]) for r in conn.execute(text("SELECT id, params FROM model_version"))}
    eng.dispose()
    assert not marker.exists()
    again = FittedModel.from_bytes(base64.b64decode(params["good"]["blob"]))
    np.testing.assert_allclose(again.hash_coef, model.hash_coef, rtol=1e-7)
    np.testing.assert_array_equal(again.dense_coef, model.dense_coef)
    assert again.metrics == {"auc": 0.61, "rows_used": 900}
    assert "blob" not in params["evil"] and "refused" in params["evil"]["refit_needed"]
    assert params["time"] == {"half_life": 30}
