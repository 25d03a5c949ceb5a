"""Campaigns: create, read with statistics, launch, cancel, preview, messages."""

from fastapi import APIRouter, Query

from app.api.deps import SessionDep, WorkspaceDep
from app.campaigns import launch, preview
from app.campaigns import service as campaigns
from app.campaigns import stats as campaign_stats
from app.models.campaign_schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignList,
    CampaignOut,
    LaunchOut,
    MessagePage,
    PreviewIn,
    PreviewOut,
)

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"])


@router.post("", status_code=201, response_model=CampaignOut)
def create(body: CampaignCreate, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Create a draft; templates are checked in Jinja's sandbox (422 naming the field and line)."""
    return campaigns.campaign_view(campaigns.create_campaign(session, ws.id, body))


@router.get("", response_model=CampaignList)
def list_all(ws: WorkspaceDep, session: SessionDep, limit: int = Query(100, ge=1, le=1000)) -> dict:
    """The workspace's campaigns, newest first."""
    return {"items": [campaigns.campaign_view(c) for c in campaigns.list_campaigns(session, ws.id, limit)]}


@router.get("/{campaign_id}", response_model=CampaignDetail, response_model_exclude_unset=True)
def get(campaign_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """The campaign with counts, arms and uplift."""
    camp = campaigns.get_campaign(session, ws.id, campaign_id)
    return campaigns.campaign_view(camp) | campaign_stats.campaign_stats(session, camp)


@router.post("/{campaign_id}/launch", status_code=202, response_model=LaunchOut)
def launch_campaign(campaign_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Plan the campaign in the background; it then moves planning → scheduled → sending → sent."""
    return launch.launch(session, ws.id, campaign_id)


@router.post("/{campaign_id}/cancel", response_model=CampaignOut)
def cancel(campaign_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Cancel: nothing unsent goes out after this."""
    return campaigns.campaign_view(campaigns.cancel_campaign(session, ws.id, campaign_id))


@router.post("/{campaign_id}/preview", response_model=PreviewOut)
def preview_for(campaign_id: str, body: PreviewIn, ws: WorkspaceDep, session: SessionDep) -> dict:
    """The subject, HTML, text and planned time one customer would get, with the reason."""
    return preview.preview(session, ws.id, campaign_id, body.external_id)


@router.get("/{campaign_id}/messages", response_model=MessagePage)
def messages(campaign_id: str, ws: WorkspaceDep, session: SessionDep, limit: int = Query(100, ge=1, le=1000),
             cursor: str | None = None) -> dict:
    """A page of the campaign's messages; pass `next_cursor` back as `cursor` for the next page."""
    return campaigns.list_messages(session, ws.id, campaign_id, limit, cursor)
