"""Routes of measurement (campaigns function, server key): a campaign's time series, the app's opt-in
counts."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from pushengine import analytics, opt_in
from pushengine.auth import READERS
from pushengine.config import settings
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.opt_in import OptInRepository
from pushengine.dal.timeseries import TimeseriesRepository
from pushengine.http import ApiRouter, caller
from pushengine.routes.campaigns import CampaignId
from pushengine.routes.settings import AppId


class Deps:
    @cached_property
    def campaigns(self) -> CampaignsRepository:
        s = settings()
        return CampaignsRepository(s.campaigns_table, s.delivery_state_table)

    @cached_property
    def timeseries(self) -> TimeseriesRepository:
        return TimeseriesRepository(settings().analytics_table)

    @cached_property
    def opt_in(self) -> OptInRepository:
        s = settings()
        return OptInRepository(s.delivery_state_table, s.analytics_table)


deps = Deps()
RUN_ID = r"^\d{4}-\d{2}-\d{2}$"  # a run is its local date
router = ApiRouter()


@router.api(
    "GET", "/v1/campaigns/<campaign_id>/timeseries", keys=READERS, answers=[404],
    summary="A campaign's (or one run's) funnel and revenue per UTC hour or day, overall and per variant",
)  # fmt: skip
def campaign_timeseries(
    campaign_id: CampaignId,
    granularity: Annotated[Literal["hour", "day"], Query()] = "hour",
    run: Annotated[str | None, Query(pattern=RUN_ID, description="one run of a recurring campaign")] = None,
) -> dict[str, Any]:
    app_id = str(caller().app_id)
    campaign = deps.campaigns.get(
        app_id, campaign_id, summed=False
    )  # definition and its runs, no shard reads
    hours = deps.timeseries.hours(app_id, campaign_id, run)
    return analytics.campaign_timeseries(campaign, hours, granularity, run)


@router.api(
    "GET", "/v1/apps/<app_id>/opt-in", keys=READERS, app_param="app_id",
    summary="The web SDK's soft permission prompts: prompted, accepted, declined and rates, per UTC hour or day",
)  # fmt: skip
def app_opt_in(
    app_id: AppId,
    granularity: Annotated[Literal["hour", "day"], Query()] = "day",
) -> dict[str, Any]:
    return opt_in.summary(deps.opt_in.hours(app_id), granularity)
