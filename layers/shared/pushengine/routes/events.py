"""Routes of the events function (client key)."""

from __future__ import annotations

from functools import cached_property

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from pushengine import events
from pushengine.auth import require
from pushengine.config import settings
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.http import Caller
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
router = APIGatewayHttpRouter()
caller = Caller()


@router.post(
    "/v1/events", summary="Report an open, click or conversion", responses={202: {"description": "ok"}}
)
def post_event(body: EventIn) -> Response[dict]:
    principal = require(caller(router), "client", "server")
    result = events.record_event(deps.events, str(principal.app_id), body)
    return Response(202, content_types.APPLICATION_JSON, result)
