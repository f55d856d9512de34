"""Audiences through the local stack: behaviour from events, geography, saved segments, users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Api, AppKeys, Standins, dynamodb, new_app

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC)
STORE = {"lat": 37.7749, "lon": -122.4194}  # a store in San Francisco
KM_PER_DEGREE_LAT = 111.195  # on the engine's sphere (R = 6371.0088 km)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def north_of_store(km: float) -> dict[str, float]:
    return {"lat": STORE["lat"] + km / KM_PER_DEGREE_LAT, "lon": STORE["lon"]}


class Shop:
    """An app with web devices on the Web Push stand-in, and who got what."""

    def __init__(self, stack: Any, standins: Standins, name: str) -> None:
        self.stack, self.standins = stack, standins
        self.app: AppKeys = new_app(Api(stack.api_url), standins, name)
        self.subscription_ids: dict[str, str] = {}

    def device(self, device_id: str, *, created: bool = True, **body: Any) -> None:
        sub = self.standins.webpush.new_subscription()
        r = self.app.client.put(f"/v1/devices/{device_id}", {"platform": "web", "subscription": sub, **body})
        assert r.status_code == (201 if created else 200), r.text
        self.subscription_ids[self.standins.webpush.subscription_id(sub)] = device_id

    def event(self, name: str, at: datetime, **body: Any) -> dict[str, Any]:
        r = self.app.client.post("/v1/events", {"name": name, "timestamp": iso(at), **body})
        assert r.status_code == 202, r.text
        return dict(r.json())

    def campaign(self, audience: dict[str, Any], **extra: Any) -> str:
        r = self.app.server.post("/v1/campaigns", {
            "name": "audience", "message": {"title": "Hi", "body": "there"}, "quiet_hours": "ignore",
            "audience": audience, **extra,
        })  # fmt: skip
        assert r.status_code == 201, r.text
        return str(r.json()["campaign_id"])

    def reached(self, campaign_id: str) -> set[str]:
        """Run the campaign's queued work; the devices its notifications reached."""
        self.standins.webpush.reset_received()
        self.stack.drain(timeout=120)
        got = [self.subscription_ids[m.subscription_id] for m in self.standins.webpush.received
               if m.payload["campaign_id"] == campaign_id]  # fmt: skip
        assert len(got) == len(set(got))
        campaign = self.app.server.get(f"/v1/campaigns/{campaign_id}").json()
        assert campaign["status"] == "completed" and campaign["stats"]["sent"] == len(got)
        return set(got)

    def later(self, hours: float) -> datetime:
        """A wave instant ahead of both real time and the stack's clock (other tests may have moved it)."""
        ahead = max(datetime.now(UTC), self.stack.clock.now()) + timedelta(hours=hours)
        return ahead.replace(microsecond=0)

    def count(self, audience: dict[str, Any]) -> int:
        r = self.app.server.post("/v1/audience/count", {"audience": audience})
        assert r.status_code == 200, r.text
        return int(r.json()["count"])


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> Shop:
    return Shop(stack, standins, "audiences")


def test_lapsed_users_are_the_devices_whose_last_app_open_is_older_than_two_weeks(shop: Shop) -> None:
    for device_id in ("opened-20d", "opened-3d", "opened-13d", "never"):
        shop.device(device_id, tags={"cohort": "lapse"})
    shop.event("app_open", NOW - timedelta(days=40), device_id="opened-20d")
    shop.event("app_open", NOW - timedelta(days=20), device_id="opened-20d")
    shop.event("app_open", NOW - timedelta(days=3), device_id="opened-3d")
    shop.event("app_open", NOW - timedelta(days=30), device_id="opened-3d")  # a late, older event
    shop.event("app_open", NOW - timedelta(days=13), device_id="opened-13d")

    shop.device("opened-3d", created=False, tags={"cohort": "lapse"})  # re-registered: its behaviour stays
    profile = shop.app.client.get("/v1/devices/opened-3d").json()["events"]["app_open"]
    assert profile["count"] == 2
    assert profile["last"].startswith(iso(NOW - timedelta(days=3))[:19])  # the late event did not move it
    assert profile["first"].startswith(iso(NOW - timedelta(days=30))[:19])

    lapsed = {"all": [{"attr": "tags.cohort", "op": "eq", "value": "lapse"},
                      {"not": {"attr": "events.app_open.last", "op": "within", "value": "P14D"}}]}  # fmt: skip
    # A device that never opened the app is lapsed as well: it has no app_open within two weeks.
    assert shop.reached(shop.campaign(lapsed)) == {"opened-20d", "never"}


def test_bought_in_30_days_for_a_total_of_at_least_100(shop: Shop) -> None:
    for device_id in ("big-recent", "big-old", "small-recent", "no-purchase"):
        shop.device(device_id, tags={"cohort": "buyers"})
    shop.event("purchase", NOW - timedelta(days=10), device_id="big-recent", value=60)
    shop.event("purchase", NOW - timedelta(days=5), device_id="big-recent", value=40)
    shop.event("purchase", NOW - timedelta(days=45), device_id="big-old", value=500)
    shop.event("purchase", NOW - timedelta(days=2), device_id="small-recent", value=99.5)
    buyers = {"all": [{"attr": "tags.cohort", "op": "eq", "value": "buyers"},
                      {"attr": "events.purchase.last", "op": "within", "value": "P30D"},
                      {"not": {"attr": "events.purchase.sum", "op": "lt", "value": 100}}]}  # fmt: skip
    assert shop.count(buyers) == 1
    assert shop.reached(shop.campaign(buyers)) == {"big-recent"}


def test_region_campaign_reaches_california_only(shop: Shop) -> None:
    shop.device("ca-1", region="US-CA", tags={"cohort": "geo"})
    shop.device("ca-2", region="us-ca", country="US", tags={"cohort": "geo"})  # codes are case-blind
    shop.device("ny", region="US-NY", tags={"cohort": "geo"})
    shop.device("bc", region="CA-BC", tags={"cohort": "geo"})
    shop.device("nowhere", tags={"cohort": "geo"})
    assert shop.app.client.get("/v1/devices/ca-1").json()["country"] == "US"  # the region names its country
    audience = {"all": [{"attr": "tags.cohort", "op": "eq", "value": "geo"},
                        {"attr": "region", "op": "in", "value": ["US-CA"]}]}  # fmt: skip
    assert shop.reached(shop.campaign(audience)) == {"ca-1", "ca-2"}


def test_near_campaign_selects_exactly_the_devices_inside_the_radius(shop: Shop) -> None:
    places = {"store-1km": 1.0, "store-4.9km": 4.9, "store-5.1km": 5.1, "store-300km": 300.0}
    for device_id, km in places.items():
        shop.device(device_id, location=north_of_store(km), tags={"cohort": "near"})
    shop.device("store-unknown", tags={"cohort": "near"})
    audience = {"all": [{"attr": "tags.cohort", "op": "eq", "value": "near"},
                        {"attr": "location", "op": "near", "value": {**STORE, "radius_km": 5}}]}  # fmt: skip
    assert shop.reached(shop.campaign(audience)) == {"store-1km", "store-4.9km"}


def test_a_segment_edited_before_the_wave_changes_who_is_reached(shop: Shop) -> None:
    stack, server = shop.stack, shop.app.server
    for device_id, plan in (("seg-pro", "pro"), ("seg-free", "free")):
        shop.device(device_id, tags={"cohort": "segment", "plan": plan})
    r = server.post(
        "/v1/segments",
        {
            "name": "plan",
            "filter": {
                "all": [
                    {"attr": "tags.cohort", "op": "eq", "value": "segment"},
                    {"attr": "tags.plan", "op": "eq", "value": "pro"},
                ]
            },
        },
    )
    assert r.status_code == 201, r.text
    segment_id = r.json()["segment_id"]
    got = server.get(f"/v1/segments/{segment_id}").json()
    assert got["name"] == "plan" and got["audience"] == got["filter"] and "size" not in got  # no count
    size = server.get(f"/v1/segments/{segment_id}/count").json()
    assert (size["count"], size["estimated"]) == (1, False)
    assert server.get("/v1/segments/seg_missing/count").status_code == 404

    at = shop.later(hours=1)
    campaign_id = shop.campaign({"segment": segment_id}, schedule={"type": "at", "at": iso(at)})
    edited = {"all": [{"attr": "tags.cohort", "op": "eq", "value": "segment"},
                      {"attr": "tags.plan", "op": "eq", "value": "free"}]}  # fmt: skip
    assert server.put(f"/v1/segments/{segment_id}", {"name": "plan", "audience": edited}).status_code == 200
    assert server.get(f"/v1/segments/{segment_id}").json()["audience"] == edited
    deleting = server.delete(f"/v1/segments/{segment_id}")
    assert deleting.status_code == 409 and campaign_id in deleting.json()["message"]

    stack.clock.set(at + timedelta(seconds=1))
    assert len(stack.fire_due_schedules()) == 1
    assert shop.reached(campaign_id) == {"seg-free"}
    assert server.delete(f"/v1/segments/{segment_id}").status_code == 204  # the campaign is done
    assert server.get(f"/v1/segments/{segment_id}").status_code == 404


def test_segments_refuse_cycles_and_missing_segments(shop: Shop) -> None:
    server = shop.app.server
    leaf = {"attr": "tags.plan", "op": "eq", "value": "pro"}
    a = server.post("/v1/segments", {"name": "a", "filter": leaf}).json()["segment_id"]
    b = server.post("/v1/segments", {"name": "b", "filter": {"not": {"segment": a}}}).json()["segment_id"]
    cycle = server.put(f"/v1/segments/{a}", {"name": "a", "filter": {"any": [leaf, {"segment": b}]}})
    assert cycle.status_code == 400 and "cycle" in cycle.text, cycle.text
    assert server.delete(f"/v1/segments/{a}").status_code == 409  # b uses it
    missing = server.post("/v1/campaigns", {"name": "m", "message": {"title": "t", "body": "b"},
                                            "audience": {"segment": "seg_0000000000000000"}})  # fmt: skip
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"].startswith("body.audience")
    listed = [s["segment_id"] for s in server.get("/v1/segments").json()["segments"]]
    assert {a, b} <= set(listed)


def test_a_user_event_updates_the_profile_of_each_of_their_devices(shop: Shop) -> None:
    for i in range(3):
        shop.device(f"user-dev-{i}", user_id="u-three")
    shop.device("other-user", user_id="u-other")
    reply = shop.event("level_up", NOW - timedelta(hours=1), user_id="u-three", value=5)
    assert reply["accepted"] is True
    user = shop.app.server.get("/v1/users/u-three")
    assert user.status_code == 200, user.text
    devices = user.json()["devices"]
    assert [d["device_id"] for d in devices] == ["user-dev-0", "user-dev-1", "user-dev-2"]
    assert all(d["events"]["level_up"]["count"] == 1 and d["events"]["level_up"]["sum"] == 5 for d in devices)
    assert all("subscription" not in d and "token" not in d for d in devices)
    assert "level_up" not in shop.app.client.get("/v1/devices/other-user").json()["events"]
    assert shop.app.client.get("/v1/users/u-three").status_code == 403  # a server-key route
    assert shop.app.server.get("/v1/users/nobody").status_code == 404

    # Attribution of a user's event: once, for the user, though it updates every device's profile.
    campaign_id = shop.campaign({"attr": "user_id", "op": "eq", "value": "u-three"})
    assert shop.reached(campaign_id) == {"user-dev-0", "user-dev-1", "user-dev-2"}
    for _ in range(2):
        reply = shop.event(
            "purchase", datetime.now(UTC), user_id="u-three", campaign_id=campaign_id, value=30
        )
        assert reply["variant"] == "default"
    stats = shop.app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["converted"], stats["revenue"]) == (1, 60)


def test_a_batch_lands_its_good_events_and_answers_each_bad_one(shop: Shop) -> None:
    shop.device("batcher")
    r = shop.app.client.post("/v1/events/batch", {"events": [
        {"device_id": "batcher", "name": "viewed", "timestamp": iso(NOW - timedelta(minutes=5))},
        {"device_id": "batcher", "name": "bad name!"},
        {"device_id": "missing-device", "name": "viewed"},
        {"device_id": "batcher", "name": "viewed", "timestamp": iso(NOW + timedelta(days=1))},
        {"device_id": "batcher", "name": "viewed", "properties": {"sku": "A1", "qty": 2}},
    ]})  # fmt: skip
    assert r.status_code == 202, r.text
    results = r.json()["results"]
    assert [x["status"] for x in results] == [202, 400, 404, 400, 202]
    assert results[1]["errors"][0]["field"] == "body.events[1].name"
    assert results[2]["errors"][0]["field"] == "body.events[2].device_id"
    assert results[3]["errors"][0]["field"] == "body.events[3].timestamp"
    assert shop.app.client.get("/v1/devices/batcher").json()["events"]["viewed"]["count"] == 2
    too_many = shop.app.client.post(
        "/v1/events/batch", {"events": [{"device_id": "batcher", "name": "x"}] * 101}
    )
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["field"] == "body.events"


def test_bad_input_is_a_400_naming_the_field(stack: Any, standins: Standins) -> None:
    shop = Shop(stack, standins, "audience-limits")
    shop.device("d")
    sub = standins.webpush.new_subscription()

    def field_of(r: Any) -> str:
        assert r.status_code == 400, r.text
        return str(r.json()["errors"][0]["field"])

    client = shop.app.client
    assert field_of(
        client.put("/v1/devices/x", {"platform": "web", "subscription": sub, "region": "US-XX"})
    ) == ("body.region")
    assert field_of(client.put("/v1/devices/x", {"platform": "web", "subscription": sub, "region": "US-CA",
                                                 "country": "FR"})) == "body.region"  # fmt: skip
    assert field_of(client.put("/v1/devices/x", {"platform": "web", "subscription": sub,
                                                 "location": {"lat": 91, "lon": 0}})) == "body.location.lat"  # fmt: skip
    big = {f"k{i}": "v" * 100 for i in range(30)}
    assert (
        field_of(client.post("/v1/events", {"device_id": "d", "name": "e", "properties": big}))
        == "body.properties"
    )
    assert field_of(client.post("/v1/events", {"name": "e"})) == "body.device_id"
    both = {"device_id": "d", "user_id": "u", "name": "e"}
    assert field_of(client.post("/v1/events", both)) == "body.device_id"

    near = {"attr": "location", "op": "near", "value": {"lat": 1, "lon": 2, "radius_km": 0}}
    r = shop.app.server.post(
        "/v1/campaigns", {"name": "n", "message": {"title": "t", "body": "b"}, "audience": near}
    )
    assert field_of(r).startswith("body.audience") and "radius_km" in r.text
    r = shop.app.server.post(
        "/v1/audience/count", {"audience": {"attr": "region", "op": "eq", "value": "XX-YY"}}
    )
    assert field_of(r).startswith("body.audience") and "ISO 3166-2" in r.text

    # At most 100 distinct event names per app: the 101st is refused, known names still land.
    batch = [{"device_id": "d", "name": f"event_{i:03d}"} for i in range(100)]
    results = client.post("/v1/events/batch", {"events": batch}).json()["results"]
    assert {x["status"] for x in results} == {202}
    assert field_of(client.post("/v1/events", {"device_id": "d", "name": "event_100"})) == "body.name"
    assert client.post("/v1/events", {"device_id": "d", "name": "event_007"}).status_code == 202


def test_a_wave_whose_segment_vanished_reaches_nobody_and_completes(shop: Shop) -> None:
    server = shop.app.server
    shop.device("vanish", tags={"cohort": "vanish"})
    segment_id = server.post("/v1/segments", {"name": "v", "filter": {
        "attr": "tags.cohort", "op": "eq", "value": "vanish"}}).json()["segment_id"]  # fmt: skip
    at = shop.later(hours=2)
    campaign_id = shop.campaign({"not": {"segment": segment_id}}, schedule={"type": "at", "at": iso(at)})
    # Gone behind the API's back (the API refuses while the campaign is active): fail closed, not "not nobody".
    table = dynamodb(shop.stack).Table(shop.stack.table_name("AudienceTable"))
    table.delete_item(Key={"app_id": shop.app.app_id, "key": f"segment#{segment_id}"})
    shop.stack.clock.set(at + timedelta(seconds=1))
    assert len(shop.stack.fire_due_schedules()) == 1
    assert shop.reached(campaign_id) == set()
    assert server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]["targeted"] == 0
