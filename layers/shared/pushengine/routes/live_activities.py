"""Routes of Live Activities, served by the campaigns function: start, update and end (server key), and the
app's report of each started activity's token (client key and the device's secret, or the server key)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from pydantic import BaseModel

from pushengine import device_trust, idempotency, live_activities
from pushengine.bootstrap import Adapters, view
from pushengine.http import ApiRouter, caller
from pushengine.models import DeviceId
from pushengine.routes.campaigns import deps as campaign_deps

ActivityId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
DeviceSecret = Annotated[str | None, Header(description="the device's secret (client key)")]
router = ApiRouter()


def _activities(_: object, a: Adapters) -> live_activities.LiveActivityDeps:
    c = campaign_deps.campaign
    return live_activities.LiveActivityDeps(
        settings=c.settings, campaigns=c.campaigns, devices=c.devices, activities=a.activities, apps=c.apps,
    )  # fmt: skip


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    apps = view(lambda _, a: a.apps)
    devices = view(lambda _, a: a.devices)
    activities = view(_activities)


deps = Deps()
gate = device_trust.Gate(lambda: deps.apps, lambda: deps.devices)


def _app_id() -> str:
    return str(caller().app_id)


def _queued(route: str, body: BaseModel, send: Callable[[], live_activities.ActivitySent]) -> Response:
    """202 once per Idempotency-Key and activity (`route` names it): a retried update or end pushes nothing
    twice."""
    return idempotency.answer(router, route, body, lambda: (202, send().model_dump(mode="json")))


@router.api(
    "POST", "/v1/live-activities", keys=["server"], status=201, answers=[409, 422],
    summary="Start a Live Activity on devices holding a push-to-start token (Idempotency-Key honoured)",
)  # fmt: skip
def start_live_activity(body: live_activities.ActivityStart) -> Response[live_activities.ActivityStarted]:
    app_id = _app_id()
    # the saved segments an audience names, as campaigns read them
    activities = replace(deps.activities, segments=campaign_deps.campaign.segments)

    def make() -> tuple[int, dict]:
        return 201, live_activities.start(activities, app_id, body).model_dump(mode="json")

    return idempotency.answer(router, "POST /v1/live-activities", body, make)


@router.api(
    "PUT", "/v1/live-activities/<activity_id>/tokens/<device_id>", keys=["client", "server"], status=204,
    answers=[404, 409], summary="Report the token of the Live Activity started on this device (client key: "
    "X-Device-Secret)", guard=gate.device_named,
)  # fmt: skip
def report_live_activity_token(
    activity_id: ActivityId, device_id: Annotated[DeviceId, Path()], body: live_activities.TokenIn,
    x_device_secret: DeviceSecret = None,
) -> Response[None]:  # fmt: skip
    live_activities.report_token(deps.activities, _app_id(), activity_id, device_id, body)
    return Response(status_code=204)


@router.api(
    "POST", "/v1/live-activities/<activity_id>/update", keys=["server"], status=202, answers=[404, 409, 422],
    summary="Update a Live Activity on every device that reported its token (Idempotency-Key honoured)",
)  # fmt: skip
def update_live_activity(
    activity_id: ActivityId, body: live_activities.ActivityUpdate
) -> Response[live_activities.ActivitySent]:
    app_id = _app_id()
    return _queued(f"POST /v1/live-activities/{activity_id}/update", body,
                   lambda: live_activities.update(deps.activities, app_id, activity_id, body))  # fmt: skip


@router.api(
    "POST", "/v1/live-activities/<activity_id>/end", keys=["server"], status=202, answers=[404, 409, 422],
    summary="End a Live Activity on every device that reported its token (Idempotency-Key honoured)",
)  # fmt: skip
def end_live_activity(
    activity_id: ActivityId, body: live_activities.ActivityEnd
) -> Response[live_activities.ActivitySent]:
    app_id = _app_id()
    return _queued(f"POST /v1/live-activities/{activity_id}/end", body,
                   lambda: live_activities.end(deps.activities, app_id, activity_id, body))  # fmt: skip


@router.api(
    "GET", "/v1/live-activities/<activity_id>", keys=["server", "analytics"], answers=[404],
    summary="A Live Activity: its status and how many started, reported, updated, ended, failed",
)  # fmt: skip
def get_live_activity(activity_id: ActivityId) -> live_activities.ActivityOut:
    return live_activities.get(deps.activities, _app_id(), activity_id)
