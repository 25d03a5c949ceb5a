"""`PUT/GET /v1/esp`: the workspace's ESP connection."""

from fastapi import APIRouter

from app.api.deps import SessionDep, WorkspaceDep
from app.models.schemas import EspConnectionIn, EspConnectionPublic
from app.platform import esp_config

router = APIRouter(prefix="/v1/esp", tags=["esp"])


@router.put("", response_model=EspConnectionPublic, response_model_exclude_none=True)
def put_esp(body: EspConnectionIn, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Connect an ESP; secrets are stored encrypted and never returned."""
    return esp_config.put_connection(session, ws.id, body)


@router.get("", response_model=EspConnectionPublic)
def get_esp(ws: WorkspaceDep, session: SessionDep) -> dict:
    """The ESP connection with secrets masked."""
    return esp_config.public_view(esp_config.get_connection(session, ws.id))
