"""Routes of the events function (client key)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Header
from pydantic import ValidationError

from pushengine import device_trust, events, export, idempotency, opt_in, triggers
from pushengine.analytics import hour_of
from pushengine.attribution import RecentCampaigns
from pushengine.bootstrap import Adapters, view
from pushengine.delivery import segment
from pushengine.errors import DomainError
from pushengine.http import ApiRouter, caller, field_errors
from pushengine.journeys import intake as journey_intake
from pushengine.models import EventBatchIn, EventIn


def _events(deps: Deps, a: Adapters) -> events.EventDeps:
    return events.EventDeps(
        campaigns=a.campaigns,
        devices=deps.devices,
        profiles=a.profiles,
        apps=deps.apps,
        recent=RecentCampaigns(a.campaigns),
        on_event=deps.on_event,
    )


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    apps = view(lambda _, a: a.apps)
    devices = view(lambda _, a: a.devices)
    events = view(_events)

    def on_event(self, app_id: str, event: EventIn) -> None:
        triggers.on_event(self.automation, app_id, event)
        journey_intake.on_event(self.automation, app_id, event)

    automation = view(lambda _, a: segment.default_deps())
    export = view(lambda _, a: a.export)
    opt_in = view(lambda _, a: a.opt_in)
    rate = view(lambda _, a: a.event_rate)


deps = Deps()
router = ApiRouter()
gate = device_trust.Gate(lambda: deps.apps, lambda: deps.devices, lambda: deps.rate)
# sent with a client key: the event's device's secret, a token for its user (pushengine.device_trust)
DeviceSecret = Annotated[str | None, Header(description="the event's device's secret (client key)")]
UserToken = Annotated[str | None, Header(description="HS256 user token for the event's user_id (client key)")]


@router.api(
    "POST", "/v1/events", keys=("client", "server"), status=202, answers=[404, 429], audited=False,
    summary="Report an event: behaviour, and opens, clicks, conversions (client key: X-Device-Secret)",
    guard=gate.event_route,
)  # fmt: skip
def post_event(
    body: EventIn, x_device_secret: DeviceSecret = None, x_user_token: UserToken = None
) -> Response[dict]:
    app_id = str(caller().app_id)
    result = events.record_event(deps.events, app_id, body)
    deps.export.put(export.event_unit([export.event_record(app_id, body, result)]))
    return Response(202, content_types.APPLICATION_JSON, result)


@router.api(
    "POST", "/v1/events/opt-in", keys=("client", "server"), status=202, audited=False,
    summary="Report a soft permission prompt's outcome: prompted, accepted or declined (counted per app)",
)  # fmt: skip
def post_opt_in(body: opt_in.OptInReport) -> Response[dict]:
    counted = deps.opt_in.record(str(caller().app_id), body, hour_of(datetime.now(UTC)))
    return Response(202, content_types.APPLICATION_JSON, {"accepted": True, "counted": counted})


@router.api(
    "POST", "/v1/events/batch", keys=("client", "server"), status=202, answers=[409, 422], audited=False,
    summary="Report up to 100 events; each event's own status in `results` (Idempotency-Key honoured)",
)  # fmt: skip
def post_events(
    body: EventBatchIn, x_device_secret: DeviceSecret = None, x_user_token: UserToken = None
) -> Response[dict]:
    principal = caller()
    app_id = str(principal.app_id)
    app = deps.apps.get(app_id) if principal.kind == "client" else None
    headers = {device_trust.HEADER: x_device_secret, "x-user-token": x_user_token}

    def check(raw: dict[str, Any]) -> None:  # each event as posted: its device's secret, its user, the rate
        gate.event(principal, app, raw, headers)

    def make() -> tuple[int, dict]:
        accepted: list[dict[str, Any]] = []
        results = [_one(app_id, i, raw, accepted, check) for i, raw in enumerate(body.events)]
        deps.export.put(export.event_unit(accepted))  # one unit of the request's accepted events
        return 202, {"results": results}

    return idempotency.answer(router, "POST /v1/events/batch", body, make)


def _one(
    app_id: str, index: int, raw: dict[str, Any], accepted: list[dict[str, Any]],
    check: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:  # fmt: skip
    """One event of a batch: a bad one gets its own 4xx result (fields under body.events[i]), the others land.
    A client key's event is proven (device secret, user token, rate) before it is validated."""
    where = f"body.events[{index}]"
    try:
        check(raw)
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
