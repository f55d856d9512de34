"""Campaign creation and its waves on in-memory ports: what is stored, queued and scheduled, and what is
refused before anything is."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from pushengine.errors import DomainError
from tests.fakes import AUDIENCE, Harness

pytestmark = pytest.mark.unit

APP = "app_c"


def test_a_local_time_campaign_schedules_one_wave_per_instant_and_each_reaches_its_zones_at_their_time() -> (
    None
):
    h = Harness(now=datetime(2026, 6, 1, 0, 0, tzinfo=UTC))
    h.web_devices(APP, 3, zone="Asia/Kathmandu", prefix="k")  # +5:45
    h.web_devices(APP, 2, zone="America/St_Johns", prefix="s")  # -2:30 in June
    body = {"name": "morning", "message": {"title": "t", "body": "b"}, "quiet_hours": "ignore",
            "schedule": {"type": "local_time", "date": "2026-06-01", "time": "09:00"}}  # fmt: skip
    campaign_id = h.create_campaign(APP, body)
    when = sorted(at for at, _ in h.scheduler.schedules.values())
    assert (
        datetime(2026, 6, 1, 3, 15, tzinfo=UTC) in when and datetime(2026, 6, 1, 11, 30, tzinfo=UTC) in when
    )
    assert not h.queue.bodies(AUDIENCE)
    h.advance(hours=3, minutes=15)
    h.drain()
    assert Counter(h.provider.target(n)[-5] for n in h.provider.sent) == {"k": 3}  # Kathmandu's 09:00 only
    h.advance(hours=8, minutes=15)
    h.drain()
    assert len(h.provider.sent) == 5
    h.advance(hours=24)
    h.drain()  # every other zone's wave fires empty
    assert h.campaigns.status(APP, campaign_id) == "completed"


def test_a_message_over_the_payload_limit_is_refused_before_anything_is_stored_or_queued() -> None:
    h = Harness()
    h.web_devices(APP, 2)
    with pytest.raises(DomainError) as refused:
        h.create_campaign(APP, {"name": "big", "message": {"title": "t", "body": "é" * 2048}})
    assert refused.value.status == 400 and refused.value.field == "body.message"
    assert not h.campaigns.definitions and not h.queue.bodies(AUDIENCE) and not h.scheduler.schedules
