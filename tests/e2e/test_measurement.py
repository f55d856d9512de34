"""What a campaign earned, through the local stack: two variants and a 10% holdout over 2,000 devices,
conversions with and without campaign_id in two currencies; the stats, the time series and the lift block
are checked against what the test computes itself from who received what and what it posted."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, AppKeys, Standins, import_devices, new_app

pytestmark = pytest.mark.e2e

DEVICES = 2000


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def hour(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:00:00Z")


def z_test(x1: int, n1: int, x2: int, n2: int) -> tuple[float, float, float, float]:
    """(absolute, p-value, ci low, ci high): the test's own two-proportion z-test."""
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p = 2 * (1 - 0.5 * (1 + math.erf(abs(z) / math.sqrt(2))))
    half = 1.959964 * math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    return p1 - p2, p, p1 - p2 - half, p1 - p2 + half


def post_all(app: AppKeys, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for i in range(0, len(events), 100):
        r = app.server.post("/v1/events/batch", {"events": events[i : i + 100]})
        assert r.status_code == 202, r.text
        results += r.json()["results"]
    assert all(r["status"] == 202 for r in results), [r for r in results if r["status"] != 202][:3]
    return results


def test_stats_time_series_revenue_and_lift_of_a_campaign_with_a_holdout(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "measure")
    tokens = {f"m-{i:04d}": standins.fcm.new_token("demo-project") for i in range(DEVICES)}

    import_devices(
        stack,
        app,
        {d: {"platform": "android", "token": t, "tags": {"cohort": "m"}} for d, t in tokens.items()},
    )

    started = datetime.now(UTC)  # the sends are stamped with the wall clock when they go out, from here on
    at = (started + timedelta(seconds=90)).replace(microsecond=0)
    r = app.server.post("/v1/campaigns", {
        "name": "lift", "message": {"title": "base", "body": "b"}, "holdout_percent": 10,
        "audience": {"attr": "tags.cohort", "op": "eq", "value": "m"}, "quiet_hours": "ignore",
        "variants": [{"name": "A", "message": {"title": "A", "body": "b"}},
                     {"name": "B", "message": {"title": "B", "body": "b"}}],
        "schedule": {"type": "at", "at": iso(at)},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    standins.fcm.reset()
    stack.clock.set(max(stack.clock.now(), at + timedelta(seconds=1)))
    stack.fire_due_schedules()
    stack.drain(timeout=180)

    # Who got what, from the provider's side: the variant is the title each device was shown.
    device_of = {t: d for d, t in tokens.items()}
    got = [(device_of[m.token], m.message["notification"]["title"]) for m in standins.fcm.received
           if m.message["data"]["campaign_id"] == campaign_id]  # fmt: skip
    assert len(got) == len({d for d, _ in got})  # each device reached once
    group: dict[str, list[str]] = {"A": [], "B": [], "holdout": []}
    for device_id, title in sorted(got):
        group[title].append(device_id)
    group["holdout"] = sorted(set(tokens) - {d for d, _ in got})
    assert 120 <= len(group["holdout"]) <= 280 and len(group["A"]) > 700 and len(group["B"]) > 700

    # What is posted, and what it must add up to.
    after = at + timedelta(seconds=60)
    posted: list[dict[str, Any]] = []
    converted: dict[str, set[str]] = defaultdict(set)
    revenue: dict[str, Counter[str]] = defaultdict(Counter)
    funnel: dict[str, Counter[str]] = defaultdict(Counter)

    def conversion(
        name: str, device_id: str, value: float, currency: str | None, with_campaign: bool
    ) -> None:
        event = {"device_id": device_id, "name": "purchase", "value": value, "timestamp": iso(after)}
        event |= {"currency": currency} if currency else {}
        event |= {"campaign_id": campaign_id} if with_campaign else {}
        posted.append(event)
        converted[name].add(device_id)
        revenue[name][currency or "USD"] += value  # the app's default currency when none is given

    for i, device_id in enumerate(group["A"]):
        if i % 5 == 0:
            conversion("A", device_id, 10, "EUR", with_campaign=i % 10 == 0)
        if i < 50:
            posted.append({"device_id": device_id, "name": "delivered", "campaign_id": campaign_id,
                           "timestamp": iso(after)})  # fmt: skip
            funnel["A"]["delivered"] += 1
        if i < 20:
            posted.append({"device_id": device_id, "name": "opened", "campaign_id": campaign_id,
                           "timestamp": iso(after)})  # fmt: skip
            funnel["A"]["opened"] += 1
    for i, device_id in enumerate(group["B"]):
        if i % 4 == 0:
            conversion("B", device_id, 3 if i % 8 == 0 else 7, None if i % 8 == 0 else "EUR", i % 8 == 0)
    for i, device_id in enumerate(group["holdout"]):
        if i % 10 == 0:
            conversion("holdout", device_id, 2, "USD", with_campaign=False)  # never told the campaign id
    conversion(
        "A", group["A"][0], 4.5, "USD", with_campaign=True
    )  # a second purchase: revenue, not a convert
    post_all(app, posted)
    # Before the campaign sent anything: outside its attribution window, so it counts for nothing.
    early = {"device_id": group["holdout"][1], "name": "purchase", "value": 1,
             "timestamp": iso(at - timedelta(hours=1))}  # fmt: skip
    assert post_all(app, [early])[0]["counted"] is False

    r = app.server.get(f"/v1/campaigns/{campaign_id}")
    assert r.status_code == 200, r.text
    campaign = r.json()
    for name, devices in group.items():
        stats = campaign["variants"][name]
        assert stats["targeted"] == len(devices), name
        assert stats["converted"] == len(converted[name]), name
        assert stats["revenue_by_currency"] == pytest.approx(dict(revenue[name])), name
        assert stats["revenue"] == pytest.approx(revenue[name]["USD"]), name
        assert stats["sent"] == (0 if name == "holdout" else len(devices)), name
    total_revenue = sum((revenue[n] for n in group), Counter())
    stats = campaign["stats"]
    assert stats["converted"] == sum(len(c) for c in converted.values())
    assert stats["revenue_by_currency"] == pytest.approx(dict(total_revenue))
    assert (stats["delivered"], stats["opened"]) == (50, 20)

    # The lift block, against the test's own z-test.
    assert set(campaign["lift"]) == {"A", "B"}
    n2, x2 = len(group["holdout"]), len(converted["holdout"])
    for name in ("A", "B"):
        block = campaign["lift"][name]
        n1, x1 = len(group[name]), len(converted[name])
        absolute, p, low, high = z_test(x1, n1, x2, n2)
        assert block["rate"] == pytest.approx(x1 / n1) and block["holdout_rate"] == pytest.approx(x2 / n2)
        assert block["absolute"] == pytest.approx(absolute)
        assert block["relative"] == pytest.approx(absolute / (x2 / n2))
        assert block["p_value"] == pytest.approx(p, rel=1e-6)
        assert block["ci95"] == pytest.approx([low, high], rel=1e-5)
        assert block["conclusive"] is True

    # The time series: the sends fall in the hour(s) they went out, the events in the hour of `after`; the
    # whole run is minutes long, so its buckets are the hours of its ends, and they add up to the totals.
    series = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries?granularity=hour")
    assert series.status_code == 200, series.text
    body = series.json()
    finished = datetime.now(UTC)
    sent_total = len(group["A"]) + len(group["B"])
    expected = {"targeted": DEVICES, "sent": sent_total, "delivered": 50, "opened": 20, "clicked": 0,
                "converted": stats["converted"]}  # fmt: skip
    assert {b["start"] for b in body["buckets"]} <= {hour(t) for t in (started, after, finished)}
    assert {k: sum(b[k] for b in body["buckets"]) for k in expected} == expected
    summed: Counter[str] = Counter()
    for bucket in body["buckets"]:
        summed.update(bucket["revenue"])
    assert dict(summed) == pytest.approx(dict(total_revenue))
    assert set(body["variants"]) == {"A", "B", "holdout"}
    held = body["variants"]["holdout"]
    assert tuple(sum(b[k] for b in held) for k in ("targeted", "sent", "converted")) == (
        len(group["holdout"]), 0, len(converted["holdout"]))  # fmt: skip
    day = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries?granularity=day").json()
    days = {t.strftime("%Y-%m-%dT00:00:00Z") for t in (started, after, finished)}
    assert {b["start"] for b in day["buckets"]} <= days and sum(b["sent"] for b in day["buckets"]) == sent_total
    bad = app.server.get(f"/v1/campaigns/{campaign_id}/timeseries?granularity=week")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "query.granularity"
    assert app.server.get("/v1/campaigns/cmp_missing/timeseries").status_code == 404

    wrong = app.client.post("/v1/events", {"device_id": group["A"][1], "name": "purchase", "value": 1,
                                           "currency": "EUX"})  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "body.currency"
