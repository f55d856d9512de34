"""A team imports its users first, then creates its birthday campaign: through the local stack, 1,000 devices
from a CSV with a numeric tag and a birthday, an anniversary campaign on an attribute the app never declared.
The `gt` filter counts every one of them, the campaign declares the attribute and indexes them in a job, and
on a driven clock each device is greeted once, on its own day at 09:00 in its own zone."""

from __future__ import annotations

import csv
import io
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e

DEVICES = 1000
ZONES = ("Asia/Tokyo", "Europe/London", "America/New_York", "Pacific/Chatham", "Pacific/Kiritimati",
         "America/St_Johns", "Asia/Kathmandu", "Pacific/Pago_Pago")  # fmt: skip
BUSY = {"attr": "tags.visits", "op": "gt", "value": 2}


def csv_file(tokens: dict[str, str], birthday: dict[str, date]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["device_id", "platform", "token", "timezone", "tags.visits", "tags.zip",
                     "attributes.birthday", "attributes.first_name"])  # fmt: skip
    for i, (device_id, token) in enumerate(tokens.items()):
        writer.writerow([device_id, "android", token, ZONES[i % len(ZONES)], 3 + i % 40, f"0{2100 + i}",
                         birthday[device_id].isoformat(), f"user{i}"])  # fmt: skip
    return out.getvalue().encode()


def test_imported_devices_are_counted_by_gt_and_greeted_once_on_their_birthday(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "birthdays-import")
    # Instants from a clock the test drives: the campaign starts three weeks from whenever this runs, and
    # every birthday is one of the three days after (born in leap years, so 29 February is a valid date).
    start = datetime.now(UTC).date() + timedelta(days=21)
    days = [start + timedelta(days=k) for k in (1, 2, 3)]
    tokens = {f"bi-{i:04d}": standins.fcm.new_token("demo-project") for i in range(DEVICES)}
    birthday = {d: days[i % 3].replace(year=1988 + 4 * (i % 8)) for i, d in enumerate(tokens)}
    zone_of = {d: ZONES[i % len(ZONES)] for i, d in enumerate(tokens)}

    r = app.server.http.post("/v1/devices/import", content=csv_file(tokens, birthday), headers={
        "authorization": f"Bearer {app.server.key}", "content-type": "text/csv"})  # fmt: skip
    assert r.status_code == 202, r.text
    stack.drain(timeout=300)
    job = app.server.get(f"/v1/devices/import/{r.json()['import_id']}").json()
    assert (job["status"], job["done"], job["failed"]) == ("completed", DEVICES, 0), job
    one = app.server.get("/v1/devices/bi-0007").json()
    assert one["tags"] == {"visits": 10, "zip": "02107"}  # a number is a number; a zip code stays text

    count = app.server.post("/v1/audience/count", {"audience": BUSY}).json()
    assert (count["count"], count["estimated"]) == (DEVICES, False)
    assert "birthday" not in app.server.get(f"/v1/apps/{app.app_id}/settings").json()["date_attributes"]

    standins.fcm.reset()
    r = app.server.post("/v1/campaigns", {
        "name": "birthday", "quiet_hours": "ignore", "audience": BUSY,
        "message": {"title": "Happy birthday {{ attributes.first_name }}!",
                    "body": "{{ attributes.birthday | years_since }} today"},
        "schedule": {"type": "anniversary", "attribute": "attributes.birthday", "time": "09:00",
                     "start": start.isoformat()},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id, index_job = r.json()["campaign_id"], r.json()["index_job"]
    assert index_job
    assert app.server.get(f"/v1/apps/{app.app_id}/settings").json()["date_attributes"] == ["birthday"]
    stack.drain(timeout=300)  # the index job (its first step waits out the apps cache)
    progress = app.server.get(f"/v1/devices/index/{index_job}").json()
    assert (progress["status"], progress["read"], progress["indexed"]) == ("completed", DEVICES, DEVICES)

    device_of = {t: d for d, t in tokens.items()}
    greeted: dict[str, list[datetime]] = {d: [] for d in tokens}
    # the hourly planner, driven a day at a time from before the first zone (UTC+14) reaches the first day
    moment = datetime.combine(start - timedelta(days=2), datetime.min.time(), UTC)
    try:
        while moment < datetime.combine(days[-1] + timedelta(days=2), datetime.min.time(), UTC):
            moment += timedelta(days=1)
            stack.clock.set(moment)
            if stack.fire_due_schedules():  # the hourly planner, at the driven instant
                stack.drain(timeout=120, schedules=True)
            while (due := stack.next_schedule_due()) is not None and due <= moment + timedelta(days=1):
                seen = len(standins.fcm.received)
                stack.clock.set(due)
                stack.fire_due_schedules()
                stack.drain(timeout=120, schedules=True)
                for message in standins.fcm.received[seen:]:
                    assert message.message["data"]["campaign_id"] == campaign_id
                    greeted[device_of[str(message.token)]].append(due)
    finally:
        stack.clock.run_real_time()

    assert Counter(len(at) for at in greeted.values()) == {1: DEVICES}  # each device once
    for device_id, (at,) in greeted.items():
        local = at.astimezone(ZoneInfo(zone_of[device_id]))
        born = birthday[device_id]
        assert ((local.month, local.day), (local.hour, local.minute)) == ((born.month, born.day), (9, 0)), device_id
    (message,) = standins.fcm.received_for(tokens["bi-0007"])
    assert message.message["notification"]["title"] == "Happy birthday user7!"
    out = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert out["stats"]["sent"] == DEVICES
    assert sorted(run["run_id"] for run in out["runs"]) == [d.isoformat() for d in days]
    app.server.post(f"/v1/campaigns/{campaign_id}/cancel")
