"""Look up a workspace's object by id: another workspace's object is "not found", never "forbidden"."""

from __future__ import annotations

from typing import Any, Protocol, TypeVar

from sqlmodel import Session

from app.core.errors import NotFound


class _Owned(Protocol):
    workspace_id: str


T = TypeVar("T", bound=_Owned)


def get_owned(session: Session, model: type[T], workspace_id: str, object_id: Any, name: str) -> T:
    """The object with this id if it belongs to the workspace, else NotFound (existence is not leaked)."""
    obj = session.get(model, object_id)
    if obj is None or obj.workspace_id != workspace_id:
        raise NotFound(f"{name} not found")
    return obj
