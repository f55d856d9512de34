"""Routes of saved segments (server key), served by the campaigns function."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path

from pushengine import idempotency, segments
from pushengine.auth import READERS, Kind
from pushengine.dal.segments import SegmentsRepository
from pushengine.http import ApiRouter, caller
from pushengine.models import AudienceCount, SegmentIn, SegmentOut, SegmentPage
from pushengine.routes.campaigns import deps

SegmentId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

router = ApiRouter()
SERVER: tuple[Kind, ...] = ("server",)


def _app_id() -> str:
    return str(caller().app_id)


def _repo() -> SegmentsRepository:
    assert deps.campaign.segments is not None
    return deps.campaign.segments


@router.api(
    "POST",
    "/v1/segments",
    keys=SERVER,
    status=201,
    answers=[409, 422],
    summary="Save a segment {name, audience} (`filter` still accepted for `audience`; Idempotency-Key honoured)",
)
def create_segment(body: SegmentIn) -> Response[dict]:
    app_id = _app_id()

    def make() -> tuple[int, dict]:
        out = segments.create_segment(_repo(), app_id, body)
        return 201, out.model_dump(mode="json", exclude_none=True)

    return idempotency.answer(router, "POST /v1/segments", body, make)


@router.api("GET", "/v1/segments", keys=READERS, summary="Every saved segment of the app")
def list_segments() -> SegmentPage:
    return segments.list_segments(_repo(), _app_id())


@router.api("GET", "/v1/segments/<segment_id>", keys=READERS, answers=[404], summary="One segment, as saved")
def get_segment(segment_id: SegmentId) -> SegmentOut:
    return segments.get_segment(_repo(), _app_id(), segment_id)


@router.api(
    "GET", "/v1/segments/<segment_id>/count", keys=READERS, answers=[404],
    summary="How many opted-in devices the segment selects now (bounded reads: estimated for a big app; "
            "cached a minute)",
)  # fmt: skip
def count_segment(segment_id: SegmentId) -> AudienceCount:
    return segments.segment_size(_repo(), deps.campaign.devices, _app_id(), segment_id)


@router.api(
    "PUT", "/v1/segments/<segment_id>", keys=SERVER, answers=[404, 409],
    summary="Replace a segment's name and audience; waves not yet fired see it",
)  # fmt: skip
def put_segment(segment_id: SegmentId, body: SegmentIn) -> SegmentOut:
    return segments.update_segment(_repo(), _app_id(), segment_id, body)


@router.api(
    "DELETE", "/v1/segments/<segment_id>", keys=SERVER, status=204, answers=[404, 409],
    summary="Delete a segment no active campaign or segment uses (else 409)",
)  # fmt: skip
def delete_segment(segment_id: SegmentId) -> Response[None]:
    app_id = _app_id()

    def status(campaign_id: str) -> str | None:
        progress = deps.campaign.campaigns.progress(app_id, campaign_id)
        return str(progress["status"]) if progress else None

    segments.delete_segment(_repo(), app_id, segment_id, status)
    return Response(status_code=204)
