"""The events intake's hook: an event that a journey listens for (an entry, an `exit_on`, a `wait_for`), or
that reports engagement with a journey's send, is handed to the audience queue, where the engine moves the
enrolments (one listeners query per event here; nothing is written)."""

from __future__ import annotations

from typing import Any

from pushengine.journeys import engine, steps
from pushengine.journeys.store import DynamoJourneyStore
from pushengine.models import EventIn


def on_event(deps: Any, app_id: str, event: EventIn) -> bool:
    """True if the event was handed on."""
    body = event.model_dump(mode="json", exclude_none=True)
    if event.journey_id is None and event.campaign_id is not None:
        named = steps.parse_campaign_id(event.campaign_id)  # a step campaign's id names both
        if named is not None:
            body["journey_id"] = named[0]
            body.setdefault("step", named[1])
    engaged = bool(body.get("journey_id") and body.get("step") and event.name in engine.ENGAGEMENT)
    if not engaged and not DynamoJourneyStore(deps.settings.automation_table).listeners(app_id, event.name):
        return False
    if event.device_id is not None:
        device_ids = [event.device_id]
    else:
        assert event.user_id is not None
        device_ids = [str(d["device_id"]) for d in deps.devices.of_user(app_id, event.user_id, limit=100)]
    if not device_ids:
        return False
    s = deps.settings
    deps.queue.send_json(s.audience_queue_url, [engine.event_message(app_id, body, device_ids)],
                         max_message=s.max_message_bytes)  # fmt: skip
    return True
