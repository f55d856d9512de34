"""Saved segments: named filters (`{name, audience}`, or `filter` as before) that campaigns name with a leaf
{"segment": id}; their live size is its own read (`segment_size`), bounded and cached.

A segment is expanded when a wave fires (dynamic, as in Pinpoint), so an edit reaches every wave
not yet fired. A segment named by an active campaign, or by another segment, cannot be deleted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pushengine import audience_size
from pushengine.audience import FilterError, SegmentLoader, expand_segments, segment_ids
from pushengine.campaign_status import UNFINISHED
from pushengine.dal.segments import SegmentsRepository
from pushengine.errors import Conflict, InvalidInput, NotFound
from pushengine.models import AudienceCount, SegmentIn, SegmentOut, SegmentPage
from pushengine.ports import DeviceStore

MAX_SEGMENTS = 200  # per app; listing and the delete check read them all
# A reference by a campaign that does not exist (yet) counts while the campaign may still be
# being created; after this it is the trace of a creation that failed half-way.
PENDING_REFERENCE = timedelta(hours=1)


def loader(repo: SegmentsRepository, app_id: str, **override: dict[str, Any]) -> SegmentLoader:
    """Segment id -> its filter, for expand_segments; `override` stands in for segments being saved."""

    def load(segment_id: str) -> dict[str, Any] | None:
        if segment_id in override:
            return override[segment_id]
        found = repo.get(app_id, segment_id)
        return found["filter"] if found else None

    return load


def expand(
    repo: SegmentsRepository, app_id: str, audience: Any, field: str, **override: dict[str, Any]
) -> Any:
    """The filter with its segments expanded, or a 400 naming the segment leaf that is wrong."""
    try:
        return expand_segments(audience, loader(repo, app_id, **override), path=field)
    except FilterError as exc:
        raise InvalidInput(exc.reason, field=exc.path) from None


def _out(segment: dict[str, Any]) -> SegmentOut:
    return SegmentOut(**{k: segment[k] for k in ("segment_id", "name", "filter", "created_at", "updated_at")},
                      audience=segment["filter"])  # fmt: skip


def create_segment(repo: SegmentsRepository, app_id: str, body: SegmentIn) -> SegmentOut:
    if len(repo.all(app_id)) >= MAX_SEGMENTS:
        raise Conflict(f"this app already has {MAX_SEGMENTS} segments; delete one first")
    expand(repo, app_id, body.definition, body.field)
    segment_id = f"seg_{secrets.token_hex(8)}"
    return _out(repo.create(app_id, segment_id, body.name, body.definition))


def update_segment(repo: SegmentsRepository, app_id: str, segment_id: str, body: SegmentIn) -> SegmentOut:
    if repo.get(app_id, segment_id) is None:
        raise NotFound("segment not found", field="segment_id")
    # Expanded as if already saved, so a cycle through this segment is refused.
    expand(repo, app_id, {"segment": segment_id}, body.field, **{segment_id: body.definition})
    updated = repo.update(app_id, segment_id, body.name, body.definition)
    if updated is None:
        raise NotFound("segment not found", field="segment_id")
    return _out(updated)


def get_segment(repo: SegmentsRepository, app_id: str, segment_id: str) -> SegmentOut:
    """The segment as saved: one read, never a count of its audience (that is `segment_size`)."""
    segment = repo.get(app_id, segment_id)
    if segment is None:
        raise NotFound("segment not found", field="segment_id")
    return _out(segment)


def segment_size(repo: SegmentsRepository, devices: DeviceStore, app_id: str, segment_id: str) -> AudienceCount:
    """How many opted-in devices the segment selects now: bounded, cached, estimated for a big app."""
    get_segment(repo, app_id, segment_id)  # a 404 for a segment that is not there
    return audience_count(repo, devices, app_id, {"segment": segment_id}, "segment_id")


def audience_count(
    repo: SegmentsRepository | None, devices: DeviceStore, app_id: str, audience: dict[str, Any] | None,
    field: str = "body.audience",
) -> AudienceCount:  # fmt: skip
    """The live count of a filter (saved segments expanded as a wave would expand them now)."""
    if segment_ids(audience):
        if repo is None:
            raise InvalidInput("saved segments are not available here", field=field)
        audience = expand(repo, app_id, audience, field)
    return audience_size.count(devices, app_id, audience)


def list_segments(repo: SegmentsRepository, app_id: str) -> SegmentPage:
    found = sorted(repo.all(app_id), key=lambda s: (s["created_at"], s["segment_id"]))
    return SegmentPage(segments=[_out(s) for s in found])


def delete_segment(
    repo: SegmentsRepository,
    app_id: str,
    segment_id: str,
    campaign_status: Callable[[str], str | None],
    *,
    now: datetime | None = None,
) -> None:
    segment = repo.get(app_id, segment_id)
    if segment is None:
        raise NotFound("segment not found", field="segment_id")
    users = [s["segment_id"] for s in repo.all(app_id) if segment_id in segment_ids(s["filter"])]
    if users:
        raise Conflict(f"segment is used by segment {', '.join(sorted(users))}", field="segment_id")
    now = now or datetime.now(UTC)
    for campaign_id, referenced_at in sorted(segment["campaigns"].items()):
        status = campaign_status(campaign_id)
        pending = status is None and now - datetime.fromisoformat(referenced_at) < PENDING_REFERENCE
        if status in UNFINISHED or pending:
            raise Conflict(f"segment is used by campaign {campaign_id} ({status or 'being created'})",
                           field="segment_id")  # fmt: skip
    if not repo.delete(app_id, segment_id, version=segment["version"]):
        raise Conflict("segment changed while it was being deleted; retry", field="segment_id")


def referenced(repo: SegmentsRepository | None, app_id: str, audience: Any, campaign_id: str) -> list[str]:
    """Before a campaign is created: check its segments resolve and note the campaign on each."""
    ids = segment_ids(audience)
    if not ids:
        return []
    if repo is None:
        raise InvalidInput("saved segments are not available here", field="body.audience")
    expand(repo, app_id, audience, "body.audience")
    missing = repo.reference(app_id, ids, campaign_id)
    if missing:
        repo.unreference(app_id, [i for i in ids if i not in missing], campaign_id)
        raise InvalidInput(f"segment {missing[0]} not found", field="body.audience")
    return ids
