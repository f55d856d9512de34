"""Routes of journeys (server key), served by the campaigns function."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from pushengine import idempotency, templates
from pushengine.auth import READERS, Kind
from pushengine.bootstrap import Adapters, view
from pushengine.http import ApiRouter, caller
from pushengine.journeys import service
from pushengine.journeys.model import EnrolmentOut, JourneyIn, JourneyOut, JourneyPage
from pushengine.models import DeviceId
from pushengine.routes.campaigns import deps as campaign_deps

JourneyId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SERVER: tuple[Kind, ...] = ("server",)
router = ApiRouter()


def _journeys(_: object, a: Adapters) -> service.JourneyApiDeps:
    s, store, apps = a.settings, a.templates, campaign_deps.campaign.apps
    return service.JourneyApiDeps(
        store=a.journeys, campaigns=campaign_deps.campaign.campaigns,
        queue=a.queue, audience_queue_url=s.audience_queue_url,
        resolve_template=lambda app_id, template_id: templates.resolve(store, app_id, template_id),
        max_message_bytes=s.max_message_bytes, outbound_hosts=s.allowed_webpush_hosts,
        webhook_secret=lambda app_id: ((apps.get(app_id) if apps else None) or {}).get("webhook_secret"),
        campaign_deps=campaign_deps.campaign,
    )  # fmt: skip


class Deps:
    """Views of the function's adapters (pushengine.bootstrap); tests may replace them."""

    journeys = view(_journeys)


deps = Deps()


def _app_id() -> str:
    return str(caller().app_id)


@router.api("POST", "/v1/journeys", keys=SERVER, status=201, answers=[409, 422],
            summary="Create a journey (Idempotency-Key honoured)")  # fmt: skip
def create_journey(body: JourneyIn) -> Response[dict]:
    app_id = _app_id()

    def make() -> tuple[int, dict]:
        return 201, service.create(deps.journeys, app_id, body).model_dump(mode="json")

    return idempotency.answer(router, "POST /v1/journeys", body, make)


@router.api("GET", "/v1/journeys", keys=READERS, summary="The app's journeys, newest first")
def list_journeys(
    limit: Annotated[int, Query(ge=1, le=100)] = 25,
    next_token: Annotated[str | None, Query(max_length=512)] = None,
) -> JourneyPage:
    return service.list_journeys(deps.journeys, _app_id(), limit=limit, next_token=next_token)


@router.api("GET", "/v1/journeys/<journey_id>", keys=READERS, answers=[404],
            summary="One journey: its definition, status, version and per-step stats")  # fmt: skip
def get_journey(journey_id: JourneyId) -> JourneyOut:
    return service.get(deps.journeys, _app_id(), journey_id)


@router.api("PUT", "/v1/journeys/<journey_id>", keys=SERVER, answers=[404, 409],
            summary="Publish a new version; enrolled devices carry on by step id")  # fmt: skip
def replace_journey(journey_id: JourneyId, body: JourneyIn) -> JourneyOut:
    return service.replace(deps.journeys, _app_id(), journey_id, body)


@router.api("POST", "/v1/journeys/<journey_id>/pause", keys=SERVER, answers=[404, 409],
            summary="Pause: enrolments stop where they are, nothing is sent")  # fmt: skip
def pause_journey(journey_id: JourneyId) -> JourneyOut:
    return service.set_status(deps.journeys, _app_id(), journey_id, "pause")


@router.api("POST", "/v1/journeys/<journey_id>/resume", keys=SERVER, answers=[404, 409],
            summary="Resume: held enrolments move on")  # fmt: skip
def resume_journey(journey_id: JourneyId) -> JourneyOut:
    return service.set_status(deps.journeys, _app_id(), journey_id, "resume")


@router.api("POST", "/v1/journeys/<journey_id>/stop", keys=SERVER, answers=[404, 409],
            summary="Stop: no more entries; enrolments exit, counted")  # fmt: skip
def stop_journey(journey_id: JourneyId) -> JourneyOut:
    return service.set_status(deps.journeys, _app_id(), journey_id, "stop")


@router.api("GET", "/v1/journeys/<journey_id>/devices/<device_id>", keys=SERVER, answers=[404],
            summary="Where a device is in a journey, and its path so far")  # fmt: skip
def device_path(journey_id: JourneyId, device_id: Annotated[DeviceId, Path()]) -> EnrolmentOut:
    return service.device_path(deps.journeys, _app_id(), journey_id, device_id)
