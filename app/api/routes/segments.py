"""Saved segments: conditions over attributes, engagement and status, usable as a campaign audience."""

from typing import Any

from fastapi import APIRouter, Body

from app.api.deps import SessionDep, WorkspaceDep
from app.customers import segments
from app.models.schemas import SegmentList, SegmentOut

router = APIRouter(prefix="/v1/segments", tags=["segments"])


@router.post("", status_code=201, response_model=SegmentOut, responses={409: {"description": "the name is taken"}})
def create_segment(ws: WorkspaceDep, session: SessionDep, name: Any = Body(...),
                   conditions: Any = Body(...)) -> dict:
    """Save `{"name", "conditions": [...]}` (all must hold) → `{"id", "name", "size", "conditions"}`."""
    return segments.create_segment(session, ws.id, name, conditions)


@router.get("", response_model=SegmentList)
def list_segments(ws: WorkspaceDep, session: SessionDep) -> dict:
    """The workspace's segments with their current size."""
    return {"items": segments.list_segments(session, ws.id)}
