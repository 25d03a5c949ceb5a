"""Campaigns: create, edit and delete drafts, check, test-send, launch (now or later), cancel, preview,
read with statistics, messages and the CSV export."""

from typing import Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import StreamingResponse

from app.api.deps import SessionDep, WorkspaceDep
from app.campaigns import check, export, launch, preview
from app.campaigns import service as campaigns
from app.campaigns import stats as campaign_stats
from app.delivery import test_copies
from app.models.campaign_schemas import (
    CampaignCheckOut,
    CampaignCreate,
    CampaignDetail,
    CampaignList,
    CampaignOut,
    CampaignPatch,
    LaunchIn,
    LaunchOut,
    MessagePage,
    PreviewIn,
    PreviewOut,
    TestSendIn,
    TestSendOut,
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
    """The campaign with counts, arms, uplift, subject variants, content blocks and clicks per link."""
    camp = campaigns.get_campaign(session, ws.id, campaign_id)
    return campaigns.campaign_view(camp) | campaign_stats.campaign_stats(session, camp)


@router.patch("/{campaign_id}", response_model=CampaignOut)
def edit(campaign_id: str, body: CampaignPatch, ws: WorkspaceDep, session: SessionDep) -> dict:
    """Change any create field of a draft (409 once launched); templates are checked again."""
    patch = body.model_dump(exclude_unset=True)
    return campaigns.campaign_view(campaigns.update_campaign(session, ws.id, campaign_id, patch))


@router.delete("/{campaign_id}", status_code=204, response_class=Response)
def remove(campaign_id: str, ws: WorkspaceDep, session: SessionDep) -> Response:
    """Delete a draft (409 once launched)."""
    campaigns.delete_campaign(session, ws.id, campaign_id)
    return Response(status_code=204)


@router.post("/{campaign_id}/check", response_model=CampaignCheckOut)
def pre_launch_check(campaign_id: str, ws: WorkspaceDep, session: SessionDep) -> dict:
    """What a launch would do now: audience size, who gets it, who the frequency cap and quiet hours skip or
    move, template problems. A launch refuses with 422 what `errors` lists."""
    return check.check(session, campaigns.get_campaign(session, ws.id, campaign_id))


@router.post("/{campaign_id}/test-send", status_code=202, response_model=TestSendOut)
def test_send(campaign_id: str, body: TestSendIn, ws: WorkspaceDep, session: SessionDep) -> dict:
    """One test copy per address through the workspace's ESP; marked as a test and never counted."""
    return test_copies.send_test_copies(session, ws.id, campaign_id, body.emails, body.external_id)


@router.post("/{campaign_id}/launch", status_code=202, response_model=LaunchOut, response_model_exclude_unset=True)
def launch_campaign(campaign_id: str, ws: WorkspaceDep, session: SessionDep,
                    body: LaunchIn | None = Body(None)) -> dict:
    """Plan the campaign in the background (at `launch_at` if given); it then moves planning → scheduled →
    sending → sent. 422 with what the pre-launch check lists as errors."""
    at = body.launch_at if body is not None else None
    return launch.launch(session, ws.id, campaign_id, at)


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


@router.get("/{campaign_id}/export.csv", response_class=StreamingResponse)
def export_csv(campaign_id: str, ws: WorkspaceDep, session: SessionDep,
               part: Literal["messages", "results"] = "messages") -> StreamingResponse:
    """CSV: every message with its outcome (`part=messages`), or the results with intervals (`part=results`)."""
    camp = campaigns.get_campaign(session, ws.id, campaign_id)
    session.commit()  # the stream reads in a session of its own; this one's transaction ends here
    rows = export.stream(camp.id, part)
    name = f"campaign-{camp.id[:8]}-{part}.csv"
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})
