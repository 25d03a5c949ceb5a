"""Keep the latest simulation report beside the models, for the dashboard's Models page."""

from __future__ import annotations

from sqlalchemy import func
from sqlmodel import Session, select

from app.models import ModelVersion


def store_report(session: Session, workspace_id: str, table: str) -> None:
    version = session.exec(select(func.max(ModelVersion.version)).where(
        ModelVersion.workspace_id == workspace_id, ModelVersion.kind == "simulation")).one()
    session.add(ModelVersion(workspace_id=workspace_id, kind="simulation", version=int(version or 0) + 1,
                             metrics={"table": table}, params={}))
    session.commit()
