"""max_per_second held at the receiver, whatever path a send takes: `max_per_second: 4` on 20 devices, and
no sliding second at the Web Push stand-in (its own receive stamps) holds more than 4 of the campaign's
sends, for a campaign's waves, its quiet-hours release, and a triggered campaign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api, AppKeys, Standins, import_devices, new_app

pytestmark = pytest.mark.e2e

RATE = 4
DEVICES = 20


def busiest_second(times: list[float]) -> int:
    """The most receipts in any sliding second [t, t + 1): the window starting at each receipt is enough."""
    ordered = sorted(times)
    return max(sum(1 for u in ordered if t <= u < t + 1) for t in ordered)


def devices(stack: Any, standins: Standins, app: AppKeys, **fields: Any) -> list[dict[str, Any]]:
    subs = [standins.webpush.new_subscription() for _ in range(DEVICES)]
    import_devices(stack, app, {f"paced-{i:02d}": {"platform": "web", "subscription": sub, **fields}
                                for i, sub in enumerate(subs)})  # fmt: skip
    standins.webpush.reset_received()
    return subs


def create(app: AppKeys, **extra: Any) -> str:
    body = {
        "name": "paced",
        "message": {"title": "Deal", "body": "Today only"},
        "max_per_second": RATE,
        **extra,
    }
    r = app.server.post("/v1/campaigns", body)
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def received(standins: Standins, subs: list[dict[str, Any]]) -> list[float]:
    times = sorted(m.at for m in standins.webpush.received_for_all(subs))
    assert len(times) == DEVICES, f"{len(times)} of {DEVICES} received"
    return times


def assert_paced(times: list[float]) -> None:
    assert busiest_second(times) <= RATE, [round(t - times[0], 3) for t in times]
    assert times[-1] - times[0] >= (DEVICES - RATE) / RATE  # held back, not merely under the limit by luck


def test_a_campaigns_waves_keep_max_per_second_at_the_receiver(
    stack: Any, standins: Standins, aws_faults: Any
) -> None:
    app = new_app(Api(stack.api_url), standins, "paced-waves")
    subs = devices(stack, standins, app)
    aws_faults.reset_counts()
    aws_faults.seed(1)  # the same draws every run
    # slot reservations, checkpoints and counts (UpdateItem) throttled and retried, whatever else is called
    with aws_faults.raised(throttle=0.15, operations={"UpdateItem"}):
        campaign_id = create(app, quiet_hours="ignore")
        stack.drain(timeout=120)
    assert any(i.operation == "UpdateItem" for i in aws_faults.history)
    assert_paced(received(standins, subs))
    assert app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]["sent"] == DEVICES


def test_a_quiet_hours_release_keeps_max_per_second_at_the_receiver(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "paced-release")
    zone = "Asia/Tokyo"
    local_now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    # quiet hours that began an hour ago and end in two, whenever this runs: every device is asleep now
    quiet = {"start": (local_now - timedelta(hours=1)).strftime("%H:%M"),
             "end": (local_now + timedelta(hours=2)).strftime("%H:%M")}  # fmt: skip
    subs = devices(stack, standins, app, timezone=zone, quiet_hours=quiet)
    campaign_id = create(app, quiet_hours="defer")
    stack.drain(timeout=120)
    held = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert held["stats"]["deferred"] == DEVICES and standins.webpush.received_for_all(subs) == []
    release = stack.next_schedule_due()
    assert release is not None and release > datetime.now(UTC) + timedelta(hours=1)
    stack.clock.set(release)  # the quiet hours are over: every deferred batch is released at once
    stack.fire_due_schedules()
    stack.drain(timeout=120, schedules=True)
    assert_paced(received(standins, subs))
    done = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert done["status"] == "completed" and done["stats"]["sent"] == DEVICES


def test_a_triggered_campaign_keeps_max_per_second_at_the_receiver(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "paced-trigger")
    subs = devices(stack, standins, app)
    campaign_id = create(app, quiet_hours="ignore",
                         schedule={"type": "triggered", "event": "checkout", "delay": "PT0S"})  # fmt: skip
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)  # the intake refuses future events
    for i in range(DEVICES):  # 20 events within a second or two: every send is due at once
        body = {"device_id": f"paced-{i:02d}", "name": "checkout", "timestamp": at.isoformat()}
        r = app.client.post("/v1/events", body)
        assert r.status_code == 202, r.text
    stack.drain(timeout=120, schedules=True)
    assert_paced(received(standins, subs))
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["triggered"], stats["sent"]) == (DEVICES, DEVICES)
