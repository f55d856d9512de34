"""Routes of a campaign's lifecycle (server key), served by the campaigns function: pause, resume, edit."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints

from pushengine import lifecycle, templates
from pushengine.content import Message
from pushengine.http import ApiRouter, caller
from pushengine.models import AudienceFilter, CampaignOut, Schedule
from pushengine.routes.campaigns import CampaignId, deps
from pushengine.routes.templates import store

router = ApiRouter()


class CampaignPatch(BaseModel):
    """The fields to replace; any left out keep their value."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    name: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None
    message: Message | None = None
    template_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    audience: AudienceFilter = None
    schedule: Schedule | None = None


@router.api(
    "POST", "/v1/campaigns/<campaign_id>/pause", keys=["server"], answers=[404, 409],
    summary="Pause: nothing is sent; queued batches and due triggered sends wait; no new enrolment or occurrence",
)  # fmt: skip
def pause_campaign(campaign_id: CampaignId) -> CampaignOut:
    return lifecycle.pause(deps.campaign, str(caller().app_id), campaign_id)


@router.api(
    "POST", "/v1/campaigns/<campaign_id>/resume", keys=["server"], answers=[404, 409],
    summary="Resume a paused campaign: waves that came due follow if_passed (skip, send_now, next_day)",
)  # fmt: skip
def resume_campaign(campaign_id: CampaignId) -> CampaignOut:
    return lifecycle.resume(deps.campaign, str(caller().app_id), campaign_id)


@router.api(
    "PATCH", "/v1/campaigns/<campaign_id>", keys=["server"], answers=[404, 409],
    summary="Edit name, message, audience or schedule: until the first wave fires, or any time if automated",
)  # fmt: skip
def patch_campaign(campaign_id: CampaignId, body: CampaignPatch) -> CampaignOut:
    app_id = str(caller().app_id)
    changes: dict[str, Any] = body.model_dump(mode="json", exclude_unset=True)
    if body.template_id is not None:
        changes["message"] = templates.resolve(store(), app_id, body.template_id)
    return lifecycle.edit(deps.campaign, app_id, campaign_id, changes)
