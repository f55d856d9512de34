"""Routes of the campaigns function: create, list, read, cancel, count an audience (server key)."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pushengine import campaigns
from pushengine.auth import require
from pushengine.config import settings
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.scheduler import WaveScheduler
from pushengine.dal.segments import SegmentsRepository
from pushengine.http import Caller
from pushengine.models import AudienceCount, AudienceCountIn, CampaignIn, CampaignOut, CampaignPage

CampaignId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class Deps:
    @cached_property
    def campaign(self) -> campaigns.CampaignDeps:
        s = settings()
        return campaigns.CampaignDeps(
            settings=s,
            campaigns=CampaignsRepository(s.campaigns_table, s.checkpoints_table),
            devices=DevicesRepository(s.devices_table, s.zones_table, s.shard_count),
            scheduler=WaveScheduler(s.schedule_group, s.scheduler_role_arn, s.segment_query_function_arn),
            segments=SegmentsRepository(s.audience_table),
        )


deps = Deps()
router = APIGatewayHttpRouter()
caller = Caller()


def _app_id() -> str:
    return str(require(caller(router), "server").app_id)


@router.post("/v1/campaigns", summary="Create a campaign", responses={201: {"description": "created"}})
def create_campaign(body: CampaignIn) -> Response[dict]:
    out = campaigns.create_campaign(deps.campaign, _app_id(), body)
    return Response(201, content_types.APPLICATION_JSON, out.model_dump(mode="json"))


@router.get("/v1/campaigns", summary="List campaigns, newest first")
def list_campaigns(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
) -> CampaignPage:
    return campaigns.list_campaigns(deps.campaign, _app_id(), limit=limit, next_token=next_token)


@router.get("/v1/campaigns/<campaign_id>", summary="One campaign with its status, waves and stats")
def get_campaign(campaign_id: CampaignId) -> CampaignOut:
    return campaigns.get_campaign(deps.campaign, _app_id(), campaign_id)


@router.post("/v1/campaigns/<campaign_id>/cancel", summary="Stop a campaign; waves not yet fired are deleted")
def cancel_campaign(campaign_id: CampaignId) -> CampaignOut:
    return campaigns.cancel_campaign(deps.campaign, _app_id(), campaign_id)


@router.post("/v1/audience/count", summary="How many opted-in devices a filter selects now")
def count_audience(body: AudienceCountIn) -> AudienceCount:
    return campaigns.count_audience(deps.campaign, _app_id(), body.audience)
