"""Routes of the events function (client key)."""

from __future__ import annotations

from functools import cached_property

from aws_lambda_powertools.event_handler import Response, content_types

from pushengine import events
from pushengine.config import settings
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.http import ApiRouter, caller
from pushengine.models import EventIn


class Deps:
    @cached_property
    def events(self) -> events.EventDeps:
        s = settings()
        return events.EventDeps(
            campaigns=CampaignsRepository(s.campaigns_table, s.checkpoints_table),
            devices=DevicesRepository(s.devices_table, s.zones_table, s.shard_count),
        )


deps = Deps()
router = ApiRouter()


@router.api(
    "POST", "/v1/events", keys=("client", "server"), status=202, answers=[404],
    summary="Report an open, click or conversion",
)  # fmt: skip
def post_event(body: EventIn) -> Response[dict]:
    result = events.record_event(deps.events, str(caller().app_id), body)
    return Response(202, content_types.APPLICATION_JSON, result)
