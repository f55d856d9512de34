"""A journey's scheduled entry (a segment on a recurring schedule, or a one-off audience) as a campaign the
segment query already knows: its waves or occurrences are planned, fired and fanned out exactly as a
campaign's (EventBridge Scheduler, bounded pages per task, saved segments fixed when each wave fires), but
its stored spec carries `journey_entry`, so each task's matching devices go to the journey engine to enrol
(delivery/segment.py `_enrol_pages`) rather than into send batches. The campaign sends nothing: its
`message` is a placeholder that the send path never sees, and its `targeted` counts the devices offered.

One entry campaign per entry: a new version with the same entry keeps it; a changed entry cancels it and
makes the new one. Pause, resume and stop of the journey pause, resume and cancel it.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pushengine import campaigns, lifecycle, segments
from pushengine.delivery.segment import JOURNEY_ENTRY
from pushengine.errors import Conflict, InvalidInput
from pushengine.journeys.model import SCHEDULED, JourneyIn, SegmentEntry
from pushengine.models import CampaignIn

MARK = "_entry"  # not a step id (a step id starts with a letter), so no step's campaign shares its id


def campaign_id(journey_id: str, version: int) -> str:
    return f"{journey_id}--{MARK}--v{version}"


def scheduled(body: JourneyIn) -> bool:
    return isinstance(body.entry, SCHEDULED)


def _campaign_body(body: JourneyIn) -> CampaignIn:
    entry = body.entry
    assert isinstance(entry, SCHEDULED)
    audience = entry.audience() if isinstance(entry, SegmentEntry) else entry.audience
    return CampaignIn.model_validate({
        "name": f"{body.name} / entry", "message": {"title": body.name, "body": "journey entry (never sent)"},
        "audience": audience, "schedule": entry.schedule.model_dump(mode="json", exclude_none=True),
        "quiet_hours": "ignore", "category": body.category,
    })  # fmt: skip


def _entry_field(exc: InvalidInput, body: JourneyIn) -> InvalidInput:
    """The campaign's field as the journey's body names it."""
    field = str(exc.field or "body.entry")
    for theirs, ours in (("body.audience", "body.entry.audience"), ("body.schedule", "body.entry.schedule")):
        if field == theirs or field.startswith(theirs + "."):
            field = ours + field[len(theirs) :]
    if field.startswith("body.entry.audience") and isinstance(body.entry, SegmentEntry):
        field = "body.entry.segment"
    return InvalidInput(exc.reason, field=field)


def check(deps: campaigns.CampaignDeps, app_id: str, body: JourneyIn, now: datetime) -> None:
    """Before anything is written: the entry's schedule is not wholly past, and its segment exists."""
    if not scheduled(body):
        return
    inner = _campaign_body(body)
    try:
        campaigns.plan_waves(inner, now)
        if isinstance(body.entry, SegmentEntry):
            if deps.segments is None:
                raise InvalidInput("saved segments are not available here", field="body.entry.segment")
            segments.expand(deps.segments, app_id, inner.audience, "body.entry")  # its leaf: .segment
    except InvalidInput as exc:
        raise _entry_field(exc, body) from None


def create(
    deps: campaigns.CampaignDeps, app_id: str, journey_id: str, version: int, body: JourneyIn, now: datetime
) -> dict[str, Any]:
    """The entry campaign of this version (after the journey is stored: its first wave may fire at once), as
    the journey item notes it ({} for an event entry)."""
    if not scheduled(body):
        return {}
    made = campaign_id(journey_id, version)
    try:
        campaigns.create_campaign(deps, app_id, _campaign_body(body), now=now, campaign_id=made,
                                  spec_extra={JOURNEY_ENTRY: {"journey_id": journey_id}})  # fmt: skip
    except InvalidInput as exc:
        raise _entry_field(exc, body) from None
    return {"entry_campaign": made}


def same_entry(old: dict[str, Any], new: JourneyIn) -> bool:
    return bool(old.get("entry") == new.model_dump(mode="json", by_alias=True, exclude_none=True)["entry"])


def follow(deps: campaigns.CampaignDeps | None, app_id: str, journey: dict[str, Any], action: str) -> None:
    """The journey paused, resumed or stopped: its entry campaign does the same (one already completed, a
    one-off whose wave has fired, has nothing left to do)."""
    made = journey.get("entry_campaign")
    if deps is None or not made:
        return
    do = {"pause": lifecycle.pause, "resume": lifecycle.resume, "stop": campaigns.cancel_campaign}[action]
    with contextlib.suppress(Conflict):
        do(deps, app_id, str(made))
