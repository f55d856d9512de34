"""A Live Activity through the local stack: started on the devices holding a push-to-start token, its token
reported by the app, updated and ended, against the APNs stand-in (which refuses what Apple refuses)."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from boto3.dynamodb.conditions import Key

from tests.conftest import Api, AppKeys, Standins, dynamodb, new_app

pytestmark = pytest.mark.e2e

BUNDLE = "com.example.live"
LIVE_TOPIC = BUNDLE + ".push-type.liveactivity"


@pytest.fixture(scope="module")
def live(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "live")


def register(app: AppKeys, device_id: str, body: dict[str, Any]) -> None:
    r = app.client.put(f"/v1/devices/{device_id}", {"timezone": "Europe/Berlin", **body})
    assert r.status_code == 201, r.text


def secret_of(app: AppKeys, device_id: str) -> dict[str, str]:
    assert app.client.trust is not None
    return {"x-device-secret": app.client.trust.device_secrets[device_id]}


def test_a_live_activity_is_started_reported_updated_and_ended(
    stack: Any, standins: Standins, live: AppKeys
) -> None:
    apns = standins.apns
    to_start = {d: apns.new_activity_token(BUNDLE) for d in ("fan-1", "fan-2")}
    for (device_id, push_to_start), team in zip(to_start.items(), ("hertha", "union"), strict=True):
        register(live, device_id, {"platform": "ios", "token": apns.new_token(BUNDLE), "tags": {"team": team},
                                   "live_activity": {"push_to_start_token": push_to_start}})  # fmt: skip
    register(live, "fan-3", {"platform": "ios", "token": apns.new_token(BUNDLE),
                             "tags": {"team": "hertha"}})  # no push-to-start token: never started on  # fmt: skip
    bad = live.client.put("/v1/devices/fan-4", {"platform": "ios", "token": apns.new_token(BUNDLE),
                                                 "live_activity": {"push_to_start_token": "nope"}})  # fmt: skip
    assert bad.status_code == 400
    assert [e["field"] for e in bad.json()["errors"]] == ["body.live_activity.push_to_start_token"]
    assert live.client.get("/v1/devices/fan-1").json()["live_activity"] == {"push_to_start_token": to_start["fan-1"]}

    apns.reset()
    apns.fail(to_start["fan-2"], "Unregistered")  # fan-2's push-to-start token is gone: fan-2 itself is not
    before = int(time.time())
    r = live.server.post("/v1/live-activities", {
        "activity_type": "MatchAttributes", "device_ids": ["fan-1", "fan-2", "fan-3", "nobody"],
        "attributes": {"home": "Hertha", "away": "Union"}, "content_state": {"score": "0-0", "minute": 0},
        "alert": {"title": "Kick-off", "body": "Hertha v Union"},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    activity_id, targeted = r.json()["activity_id"], r.json()["targeted"]
    assert targeted == 2  # fan-3 holds no push-to-start token; nobody is no device
    stack.drain()
    after = int(time.time())
    starts = [m for m in apns.received if m.token in to_start.values()]
    assert sorted(m.token for m in starts) == sorted(to_start.values())
    assert {m.token: m.status for m in starts} == {to_start["fan-1"]: 200, to_start["fan-2"]: 410}
    fan_2 = live.server.get("/v1/devices/fan-2").json()  # its refused push-to-start token left it, as a device
    assert (fan_2["status"], fan_2["live_activity"]) == ("active", None)  # token would: its own was not refused
    for m in starts:
        assert (m.headers["apns-push-type"], m.headers["apns-topic"]) == ("liveactivity", LIVE_TOPIC)
        assert "apns-collapse-id" not in m.headers
        aps = m.payload["aps"]
        assert before <= aps.pop("timestamp") <= after
        assert aps == {"event": "start", "content-state": {"score": "0-0", "minute": 0},
                       "attributes-type": "MatchAttributes", "attributes": {"home": "Hertha", "away": "Union"},
                       "alert": {"title": "Kick-off", "body": "Hertha v Union"}}  # fmt: skip
    assert len(apns.received) == 2  # nothing else went out: fan-3's own token got no start

    # the app on fan-1 reports the started activity's token (its device's secret proves it); fan-2 does not
    activity_token = apns.new_activity_token(BUNDLE)
    path = f"/v1/live-activities/{activity_id}/tokens/fan-1"
    refused = live.client.put(path, {"token": "not even hex"})  # no secret: 403 before the body is read
    assert refused.status_code == 403, refused.text
    assert live.client.put(path, {"token": activity_token}, headers={"x-device-secret": "wrong"}).status_code == 403
    for _ in range(2):  # a repeated report keeps one token and counts once
        r = live.client.put(path, {"token": activity_token}, headers=secret_of(live, "fan-1"))
        assert r.status_code == 204, r.text

    too_big = live.server.post(f"/v1/live-activities/{activity_id}/update",
                               {"content_state": {"log": "x" * 4100}})  # fmt: skip
    assert too_big.status_code == 400
    assert [e["field"] for e in too_big.json()["errors"]] == ["body.content_state"]

    # paced as every send: the app's max_per_second holds for Live Activity pushes too
    assert live.server.put(f"/v1/apps/{live.app_id}/settings", {"max_per_second": 50}).status_code == 200
    apns.reset()
    before = int(time.time())
    goal = {"content_state": {"score": "1-0", "minute": 52}, "alert": {"title": "Goal!", "body": "Hertha 1-0"},
            "stale_date": "2026-12-31T23:00:00Z"}  # fmt: skip
    for _ in range(2):  # a retry with the same Idempotency-Key pushes nothing twice
        r = live.server.post(f"/v1/live-activities/{activity_id}/update", goal, headers={"Idempotency-Key": "goal-1"})
        assert r.status_code == 202, r.text
        assert r.json() == {"activity_id": activity_id, "event": "update"}  # its tokens are read a page at a time
    stack.drain()
    r = live.server.post(f"/v1/live-activities/{activity_id}/end", {
        "content_state": {"score": "2-1", "minute": 90}, "dismissal_date": "2026-12-31T23:30:00Z",
    })  # fmt: skip
    assert r.status_code == 202, r.text
    stack.drain()
    after = int(time.time())
    sent = apns.received
    assert [m.token for m in sent] == [activity_token, activity_token]
    for m in sent:
        assert m.status == 200, m.reason
        assert (m.headers["apns-push-type"], m.headers["apns-topic"]) == ("liveactivity", LIVE_TOPIC)
        assert before <= m.payload["aps"].pop("timestamp") <= after
    assert [m.payload["aps"] for m in sent] == [
        {"event": "update", "content-state": {"score": "1-0", "minute": 52},
         "alert": {"title": "Goal!", "body": "Hertha 1-0"}, "stale-date": 1798758000},
        {"event": "end", "content-state": {"score": "2-1", "minute": 90}, "dismissal-date": 1798759800},
    ]  # fmt: skip

    again = live.server.post(f"/v1/live-activities/{activity_id}/update", {"content_state": {"score": "3-1"}})
    assert again.status_code == 409, again.text
    got = live.server.get(f"/v1/live-activities/{activity_id}")
    assert got.status_code == 200, got.text
    out = got.json()
    assert (out["status"], out["activity_type"], out["updates"]) == ("ended", "MatchAttributes", 1)
    assert out["counts"] == {"targeted": 2, "started": 1, "reported": 1, "updated": 1, "ended": 1, "failed": 1,
                             "pruned": 1}  # fmt: skip
    assert live.server.get("/v1/live-activities/xla_000000000000aaaaaaaaaa").status_code == 404
    assert activity_id not in [c["campaign_id"] for c in live.server.get("/v1/campaigns").json()["campaigns"]]
    assert live.server.get(f"/v1/campaigns/{activity_id}").status_code == 404  # not a campaign to read or stop
    assert live.server.post(f"/v1/campaigns/{activity_id}/cancel").status_code == 404
    assert live.server.post(f"/v1/campaigns/{activity_id}/pause").status_code == 404
    r = live.client.put(f"/v1/live-activities/{activity_id}/tokens/nobody", {"token": activity_token})
    assert r.status_code == 404, r.text
    assert live.client.get(f"/v1/live-activities/{activity_id}").status_code == 403  # a client key reads none

    # by audience: the matching devices that hold a push-to-start token, read like a campaign's zones
    apns.reset()
    r = live.server.post("/v1/live-activities", {
        "activity_type": "MatchAttributes", "audience": {"attr": "tags.team", "op": "eq", "value": "hertha"},
        "attributes": {"home": "Hertha", "away": "Bochum"}, "content_state": {"score": "0-0", "minute": 0},
        "alert": {"title": "Kick-off", "body": "Hertha v Bochum"},
    })  # fmt: skip
    assert r.status_code == 201, r.text
    assert r.json()["targeted"] is None  # counted as the audience is read
    stack.drain()
    [second] = apns.received
    assert (second.token, second.status, second.headers["apns-topic"]) == (to_start["fan-1"], 200, LIVE_TOPIC)
    assert second.payload["aps"]["attributes"] == {"home": "Hertha", "away": "Bochum"}
    counts = live.server.get(f"/v1/live-activities/{r.json()['activity_id']}").json()["counts"]
    assert counts == {"targeted": 1, "started": 1, "reported": 0, "updated": 0, "ended": 0, "failed": 0, "pruned": 0}

    # erasing fan-1 takes its reported token with it
    table = dynamodb(stack).Table(stack.table_name("AutomationTable"))

    def tokens_of(activity: str) -> list[str]:
        found = table.query(KeyConditionExpression=Key("pk").eq(f"activity#{live.app_id}#{activity}"))["Items"]
        return [str(i["sk"]) for i in found if str(i["sk"]).startswith("token#")]

    assert tokens_of(activity_id) == ["token#fan-1"]
    assert live.client.delete("/v1/devices/fan-1").status_code == 204
    assert tokens_of(activity_id) == []


START = {"activity_type": "MatchAttributes", "attributes": {"home": "Hertha", "away": "Union"},
         "content_state": {"score": "0-0", "minute": 0},
         "alert": {"title": "Kick-off", "body": "Hertha v Union"}}  # fmt: skip


def fans(app: AppKeys, apns: Any, bundle: str, teams: dict[str, str]) -> dict[str, str]:
    """iOS devices holding a push-to-start token, tagged with their team; device id -> that token."""
    tokens = {}
    for device_id, team in teams.items():
        tokens[device_id] = apns.new_activity_token(bundle)
        register(app, device_id, {"platform": "ios", "token": apns.new_token(bundle), "tags": {"team": team},
                                  "live_activity": {"push_to_start_token": tokens[device_id]}})  # fmt: skip
    return tokens


def test_a_live_activity_audience_names_a_saved_segment_as_a_campaign_does(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "live-seg")
    apns = standins.apns
    to_start = fans(app, apns, "com.example.live-seg", {"s-1": "hertha", "s-2": "hertha", "s-3": "union"})
    hertha = {"attr": "tags.team", "op": "eq", "value": "hertha"}
    segment = app.server.post("/v1/segments", {"name": "hertha fans", "audience": hertha})
    assert segment.status_code == 201, segment.text
    segment_id = segment.json()["segment_id"]

    missing = app.server.post("/v1/live-activities", {**START, "audience": {"segment": "seg_0000000000000000"}})
    assert missing.status_code == 400, missing.text
    assert [e["field"] for e in missing.json()["errors"]] == ["body.audience.segment"]

    apns.reset()
    audience = {"all": [{"segment": segment_id}, {"attr": "platform", "op": "eq", "value": "ios"}]}
    r = app.server.post("/v1/live-activities", {**START, "audience": audience})
    assert r.status_code == 201, r.text
    activity_id = r.json()["activity_id"]
    in_use = app.server.delete(f"/v1/segments/{segment_id}")  # its start is under way: the segment stays
    assert in_use.status_code == 409 and activity_id in in_use.text, in_use.text
    stack.drain()
    started = {m.token: m.status for m in apns.received}
    assert started == {to_start["s-1"]: 200, to_start["s-2"]: 200}  # the segment's members, not s-3
    assert all(m.payload["aps"]["event"] == "start" for m in apns.received)
    counts = app.server.get(f"/v1/live-activities/{activity_id}").json()["counts"]
    assert (counts["targeted"], counts["started"]) == (2, 2)
    assert app.server.delete(f"/v1/segments/{segment_id}").status_code == 204  # the start is done


def test_updates_under_apns_429s_are_paced_and_retried_and_every_activity_counts_exactly(
    stack: Any, standins: Standins
) -> None:
    app, bundle, apns = new_app(Api(stack.api_url), standins, "live-busy"), "com.example.live-busy", standins.apns
    per_second = 2
    assert app.server.put(f"/v1/apps/{app.app_id}/settings", {"max_per_second": per_second}).status_code == 200
    fans(app, apns, bundle, {f"b-{i}": "hertha" for i in range(5)})
    on = {"a": ["b-0", "b-1", "b-2"], "b": ["b-3", "b-4"]}
    activities = {}
    for name, devices in on.items():
        r = app.server.post("/v1/live-activities", {**START, "device_ids": devices})
        assert r.status_code == 201, r.text
        activities[name] = r.json()["activity_id"]
    stack.drain()
    tokens: dict[str, dict[str, str]] = {name: {} for name in on}  # activity -> device -> its activity token
    for name, devices in on.items():
        for device_id in devices:
            tokens[name][device_id] = token = apns.new_activity_token(bundle)
            r = app.client.put(f"/v1/live-activities/{activities[name]}/tokens/{device_id}", {"token": token},
                               headers=secret_of(app, device_id))  # fmt: skip
            assert r.status_code == 204, r.text
    busy = {tokens["a"]["b-1"], tokens["b"]["b-3"]}
    apns.reset()
    for token in busy:  # APNs is busy for these: two 429s with Retry-After, then it takes them
        apns.fail(token, "TooManyRequests", retry_after=2, times=2)
    for name in on:  # silent updates: apns-priority 5, nothing of the device's budget spent
        r = app.server.post(f"/v1/live-activities/{activities[name]}/update", {"content_state": {"minute": 10}})
        assert r.status_code == 202, r.text
    stack.drain(timeout=120)

    for name, by_device in tokens.items():
        attempts = sorted((m for m in apns.received if m.token in by_device.values()), key=lambda m: m.at)
        for token in by_device.values():
            answers = [m for m in attempts if m.token == token]
            assert [m.status for m in answers] == ([429, 429, 200] if token in busy else [200])
            for before, after in itertools.pairwise(answers):  # each retry waited its Retry-After
                assert after.at - before.at >= 2.0 - 0.05, (before.at, after.at)
        for m in attempts:  # paced: in any second, no more of the activity's pushes than max_per_second
            assert len([n for n in attempts if m.at <= n.at < m.at + 0.95]) <= per_second
            assert (m.headers["apns-priority"], m.payload["aps"]["event"]) == ("5", "update")
            assert apns.budget_spent(m.token) == 0
        counts = app.server.get(f"/v1/live-activities/{activities[name]}").json()["counts"]
        assert counts == {"targeted": len(on[name]), "started": len(on[name]), "reported": len(on[name]),
                          "updated": len(on[name]), "ended": 0, "failed": 0, "pruned": 0}  # fmt: skip
