"""Routes of the events function (client key)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from pydantic import ValidationError

from pushengine import events, export, idempotency, triggers
from pushengine.attribution import RecentCampaigns
from pushengine.config import settings
from pushengine.dal.apps import AppsRepository
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.export import EventExport
from pushengine.dal.profiles import ProfilesRepository
from pushengine.delivery import segment
from pushengine.errors import DomainError
from pushengine.http import ApiRouter, caller, field_errors
from pushengine.journeys import intake as journey_intake
from pushengine.models import EventBatchIn, EventIn


class Deps:
    @cached_property
    def events(self) -> events.EventDeps:
        s = settings()
        campaigns = CampaignsRepository(s.campaigns_table, s.delivery_state_table)
        return events.EventDeps(
            campaigns=campaigns,
            devices=DevicesRepository(s.devices_table, s.zones_table, s.shard_count),
            profiles=ProfilesRepository(s.devices_table, s.audience_table),
            apps=AppsRepository(s.apps_table),
            recent=RecentCampaigns(campaigns),
            on_event=self.on_event,
        )

    def on_event(self, app_id: str, event: EventIn) -> None:
        triggers.on_event(self.automation, app_id, event)
        journey_intake.on_event(self.automation, app_id, event)

    @cached_property
    def automation(self) -> segment.SegmentDeps:
        return segment.default_deps()

    @cached_property
    def export(self) -> EventExport:
        return EventExport(settings().event_export)


deps = Deps()
router = ApiRouter()


@router.api(
    "POST", "/v1/events", keys=("client", "server"), status=202, answers=[404], audited=False,
    summary="Report an event: behaviour, and opens, clicks, conversions",
)  # fmt: skip
def post_event(body: EventIn) -> Response[dict]:
    app_id = str(caller().app_id)
    result = events.record_event(deps.events, app_id, body)
    deps.export.put(export.event_unit([export.event_record(app_id, body, result)]))
    return Response(202, content_types.APPLICATION_JSON, result)


@router.api(
    "POST", "/v1/events/batch", keys=("client", "server"), status=202, answers=[409, 422], audited=False,
    summary="Report up to 100 events; each event's own status in `results` (Idempotency-Key honoured)",
)  # fmt: skip
def post_events(body: EventBatchIn) -> Response[dict]:
    app_id = str(caller().app_id)

    def make() -> tuple[int, dict]:
        accepted: list[dict[str, Any]] = []
        results = [_one(app_id, i, raw, accepted) for i, raw in enumerate(body.events)]
        deps.export.put(export.event_unit(accepted))  # one unit of the request's accepted events
        return 202, {"results": results}

    return idempotency.answer(router, "POST /v1/events/batch", body, make)


def _one(app_id: str, index: int, raw: dict[str, Any], accepted: list[dict[str, Any]]) -> dict[str, Any]:
    """One event of a batch: a bad one gets its own 4xx result (fields under body.events[i]), the others land."""
    where = f"body.events[{index}]"
    try:
        event = EventIn.model_validate(raw)
        result = events.record_event(deps.events, app_id, event)
        accepted.append(export.event_record(app_id, event, result))
        return {"index": index, "status": 202, **result}
    except ValidationError as exc:
        return {"index": index, "status": 400, "message": "invalid event", "errors": field_errors(exc, where)}
    except DomainError as exc:
        field = exc.field.replace("body", where, 1) if exc.field else where
        return {"index": index, "status": exc.status, "message": exc.reason,
                "errors": [{"field": field, "reason": exc.reason}]}  # fmt: skip
