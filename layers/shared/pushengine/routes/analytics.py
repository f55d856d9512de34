"""Routes of measurement (campaigns function, server key): a campaign's time series, the app's opt-in
counts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools.event_handler.openapi.params import Query

from pushengine import analytics, opt_in
from pushengine.auth import READERS
from pushengine.bootstrap import view
from pushengine.http import ApiRouter, caller
from pushengine.routes.campaigns import CampaignId
from pushengine.routes.settings import AppId


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    campaigns = view(lambda _, a: a.campaigns)
    timeseries = view(lambda _, a: a.timeseries)
    opt_in = view(lambda _, a: a.opt_in)


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
