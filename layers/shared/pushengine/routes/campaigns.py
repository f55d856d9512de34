"""Routes of the campaigns function: create, list, read, cancel, count an audience (server key)."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from pushengine import campaigns, idempotency, segments, templates
from pushengine.auth import READERS, Kind
from pushengine.bootstrap import Adapters, view
from pushengine.content import Message
from pushengine.http import ApiRouter, caller
from pushengine.models import AudienceCount, AudienceCountIn, CampaignIn, CampaignOut, CampaignPage

CampaignId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _campaign(_: object, a: Adapters) -> campaigns.CampaignDeps:
    return campaigns.CampaignDeps(
        settings=a.settings, campaigns=a.campaigns, devices=a.devices, scheduler=a.scheduler, segments=a.segments,
        automation=a.automation, apps=a.apps, jobs=a.jobs,
    )  # fmt: skip


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    campaign = view(_campaign)


deps = Deps()
router = ApiRouter()
SERVER: tuple[Kind, ...] = ("server",)


def _app_id() -> str:
    return str(caller().app_id)


@router.api(
    "POST", "/v1/campaigns", keys=SERVER, status=201, answers=[409, 422],
    summary="Create a campaign (Idempotency-Key honoured)",
)  # fmt: skip
def create_campaign(body: CampaignIn) -> Response[CampaignOut]:
    app_id = _app_id()

    def make() -> tuple[int, dict]:
        resolved = body
        if body.template_id is not None:  # copied now: a later edit of the template changes nothing here
            message = templates.resolve(templates.default_store(), app_id, body.template_id)
            resolved = body.model_copy(update={"message": Message.model_validate(message)})
        return 201, campaigns.create_campaign(deps.campaign, app_id, resolved).model_dump(mode="json")

    return idempotency.answer(router, "POST /v1/campaigns", body, make)


@router.api("GET", "/v1/campaigns", keys=READERS, summary="List campaigns, newest first")
def list_campaigns(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
) -> CampaignPage:
    return campaigns.list_campaigns(deps.campaign, _app_id(), limit=limit, next_token=next_token)


@router.api(
    "GET", "/v1/campaigns/<campaign_id>", keys=READERS, answers=[404],
    summary="One campaign with its status, waves and stats",
)  # fmt: skip
def get_campaign(campaign_id: CampaignId) -> CampaignOut:
    return campaigns.get_campaign(deps.campaign, _app_id(), campaign_id)


@router.api(
    "POST", "/v1/campaigns/<campaign_id>/cancel", keys=SERVER, answers=[404, 409],
    summary="Stop a campaign; waves not yet fired are deleted",
)  # fmt: skip
def cancel_campaign(campaign_id: CampaignId) -> CampaignOut:
    return campaigns.cancel_campaign(deps.campaign, _app_id(), campaign_id)


@router.api(
    "POST", "/v1/audience/count", keys=READERS, audited=False,
    summary="How many opted-in devices a filter selects now (bounded reads: estimated for a big app; cached a "
            "minute)",
)  # fmt: skip
def count_audience(body: AudienceCountIn) -> AudienceCount:
    c = deps.campaign
    return segments.audience_count(c.segments, c.devices, _app_id(), body.audience)
