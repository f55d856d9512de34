"""Direct sends, idempotency, templates and key rotation through the local stack."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import ADMIN_KEY, Api, AppKeys, Standins, dynamodb, new_app, quiet_hours_around

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "direct")


def devices_of(shop: AppKeys, standins: Standins, user_id: str) -> dict[str, str]:
    """A user with an iPhone, an Android phone, a browser and an old Android phone whose token FCM
    no longer knows; returns device id -> token or subscription id."""
    bundle = "com.example.direct"
    ios, android, old = standins.apns.new_token(bundle), standins.fcm.new_token(), standins.fcm.new_token()
    standins.fcm.fail(old, "UNREGISTERED")
    sub = standins.webpush.new_subscription()
    bodies = {
        f"{user_id}-ios": {"platform": "ios", "token": ios},
        f"{user_id}-android": {"platform": "android", "token": android},
        f"{user_id}-web": {"platform": "web", "subscription": sub},
        f"{user_id}-old": {"platform": "android", "token": old},
    }
    for device_id, body in bodies.items():
        r = shop.client.put(f"/v1/devices/{device_id}", {**body, "user_id": user_id, "timezone": "UTC",
                                                          "attributes": {"first_name": "Ada"}})  # fmt: skip
        assert r.status_code == 201, r.text
    return {f"{user_id}-ios": ios, f"{user_id}-android": android, f"{user_id}-old": old,
            f"{user_id}-web": standins.webpush.subscription_id(sub)}  # fmt: skip


def test_direct_send_reaches_every_platform_within_a_second_with_outcomes(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    addresses = devices_of(shop, standins, "u-order")
    devices_of(shop, standins, "u-warm")  # a first send warms the route and the providers' tokens
    r = shop.server.post("/v1/messages", {"to": {"user_ids": ["u-warm"]}, "category": "transactional",
                                          "message": {"title": "t", "body": "b"}})  # fmt: skip
    assert r.status_code == 202, r.text
    stack.drain()
    standins.webpush.reset_received()
    standins.apns.reset()
    started = time.time()
    r = shop.server.post("/v1/messages", {
        "to": {"user_ids": ["u-order"], "device_ids": ["nobody"]}, "category": "transactional",
        "message": {"title": "Order {{ data.order_id }}", "body": "Hi {{ attributes.first_name }}, it shipped"},
        "data": {"order_id": "A-1042"}, "ttl_seconds": 3600,
    })  # fmt: skip
    assert r.status_code == 202, r.text
    accepted = r.json()
    assert accepted["recipients"] == 4
    stack.drain()
    ios = standins.apns.received_for(addresses["u-order-ios"])
    android = standins.fcm.received_for(addresses["u-order-android"])
    web = [m for m in standins.webpush.received if m.subscription_id == addresses["u-order-web"]]
    elapsed = max(m.at for m in [*ios, *web]) - started, max(m.time for m in android) - started
    print(f"direct send: POST to the last stand-in's receipt in {max(elapsed):.2f} s")
    # Straight to the send queue: no wave, no schedule, no visibility timeout in between. Well within a
    # second on an idle machine (printed above); the bound only catches a send that waited for something.
    assert max(elapsed) < 5.0
    assert [m.payload["aps"]["alert"]["title"] for m in ios] == ["Order A-1042"]
    assert [m.message["notification"]["title"] for m in android] == ["Order A-1042"]
    assert [m.payload["title"] for m in web] == ["Order A-1042"]
    assert web[0].payload["body"] == "Hi Ada, it shipped"

    got = shop.server.get(f"/v1/messages/{accepted['message_id']}")
    assert got.status_code == 200, got.text
    out = got.json()
    assert out["status"] == "completed"
    outcomes = {
        (x.get("device_id") or x.get("user_id")): (x["outcome"], x.get("reason")) for x in out["results"]
    }
    assert outcomes == {
        "u-order-ios": ("sent", None), "u-order-android": ("sent", None), "u-order-web": ("sent", None),
        "u-order-old": ("pruned", outcomes["u-order-old"][1]), "nobody": ("failed", "no such device"),
    }  # fmt: skip
    assert outcomes["u-order-old"][1]  # the provider's reason
    assert shop.client.get("/v1/devices/u-order-old").json()["status"] == "invalid"
    # a direct send is not a campaign: the campaign list does not show it
    listed = shop.server.get("/v1/campaigns").json()["campaigns"]
    assert accepted["message_id"] not in {c["campaign_id"] for c in listed}


@pytest.mark.clock
def test_direct_send_obeys_quiet_hours_unless_transactional(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    sub = standins.webpush.new_subscription()
    quiet = quiet_hours_around("UTC")  # asleep now at any hour (00:00-23:59 left the minute 23:59 awake)
    r = shop.client.put("/v1/devices/sleeper", {"platform": "web", "subscription": sub, "timezone": "UTC",
                                                "quiet_hours": quiet})  # fmt: skip
    assert r.status_code == 201, r.text
    standins.webpush.reset_received()
    ids = {}
    for category in ("marketing", "transactional"):
        body = {"to": {"device_ids": ["sleeper"]}, "category": category, "quiet_hours": "skip",
                "message": {"title": category, "body": "b"}}  # fmt: skip
        r = shop.server.post("/v1/messages", body)
        assert r.status_code == 202, r.text
        ids[category] = r.json()["message_id"]
    stack.drain()
    assert [m.payload["title"] for m in standins.webpush.received] == ["transactional"]
    marketing = shop.server.get(f"/v1/messages/{ids['marketing']}").json()
    assert marketing["results"] == [
        {"device_id": "sleeper", "user_id": None, "outcome": "suppressed", "reason": "quiet_hours"}
    ]


def test_idempotency_key_creates_one_campaign_and_refuses_another_body(shop: AppKeys) -> None:
    body = {"name": "retry me", "message": {"title": "t", "body": "b"},
            "schedule": {"type": "at", "at": "2099-01-01T00:00:00Z"}}  # fmt: skip
    before = len(shop.server.get("/v1/campaigns?limit=100").json()["campaigns"])
    headers = {"authorization": f"Bearer {shop.server.key}", "idempotency-key": "create-42"}
    first = shop.server.http.post("/v1/campaigns", json=body, headers=headers)
    again = shop.server.http.post("/v1/campaigns", json=body, headers=headers)
    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json()
    assert len(shop.server.get("/v1/campaigns?limit=100").json()["campaigns"]) == before + 1
    other = shop.server.http.post("/v1/campaigns", json={**body, "name": "another"}, headers=headers)
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["field"] == "idempotency-key"
    # the same key on another route is another request
    msg = shop.server.http.post("/v1/templates", json={"name": "n", "message": {"title": "t", "body": "b"}},
                                headers=headers)  # fmt: skip
    assert msg.status_code == 201, msg.text


def test_template_is_copied_when_a_send_names_it(stack: Any, standins: Standins, shop: AppKeys) -> None:
    created = shop.server.post("/v1/templates", {"name": "shipped", "message": {
        "title": "Shipped {{ data.order_id }}", "body": "b", "localizations": {"fr": {"title": "Expédié"}}}})  # fmt: skip
    assert created.status_code == 201, created.text
    template_id = created.json()["template_id"]
    bad = shop.server.post("/v1/templates", {"name": "x", "message": {"title": "{{ oops", "body": "b"}})
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"].startswith("body.message.title")
    sub = standins.webpush.new_subscription()
    assert shop.client.put("/v1/devices/tpl-web", {"platform": "web", "subscription": sub}).status_code == 201
    standins.webpush.reset_received()
    r = shop.server.post("/v1/messages", {"to": {"device_ids": ["tpl-web"]}, "template_id": template_id,
                                          "data": {"order_id": 7}, "category": "transactional"})  # fmt: skip
    assert r.status_code == 202, r.text
    edited = shop.server.put(f"/v1/templates/{template_id}", {"name": "shipped", "message": {"title": "new",
                                                                                             "body": "b"}})  # fmt: skip
    assert edited.status_code == 200
    stack.drain()
    assert [m.payload["title"] for m in standins.webpush.received] == ["Shipped 7"]
    missing = shop.server.post("/v1/messages", {"to": {"device_ids": ["tpl-web"]}, "template_id": "nope"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["field"] == "body.template_id"
    assert shop.server.delete(f"/v1/templates/{template_id}").status_code == 204
    assert shop.server.get(f"/v1/templates/{template_id}").status_code == 404


def test_keys_rotate_without_downtime(stack: Any, standins: Standins) -> None:
    api = Api(stack.api_url)
    app = new_app(api, standins, "rotating", providers=False)
    admin = api.as_key(ADMIN_KEY)
    issued = admin.post(f"/v1/apps/{app.app_id}/keys", {"kind": "server"})
    assert issued.status_code == 201, issued.text
    new = issued.json()
    assert app.server.get("/v1/campaigns").status_code == 200  # the old key still works
    assert api.as_key(new["key"]).get("/v1/campaigns").status_code == 200
    assert api.as_key(new["key"]).put("/v1/devices/x", {"platform": "web"}).status_code != 401
    assert app.client.post(f"/v1/apps/{app.app_id}/keys", {"kind": "client"}).status_code == 403
    other = new_app(api, standins, "rotating-other", providers=False)
    assert other.server.post(f"/v1/apps/{app.app_id}/keys", {"kind": "client"}).status_code == 403
    gone = admin.delete(f"/v1/apps/{app.app_id}/keys/{new['key_id']}")
    assert gone.status_code == 204, gone.text
    assert admin.delete(f"/v1/apps/{app.app_id}/keys/{new['key_id']}").status_code == 404
    # the devices function revoked it, so it refuses it at once (others within their 30 s app cache)
    assert api.as_key(new["key"]).get("/v1/users/someone").status_code == 401
    assert app.server.get("/v1/users/someone").status_code == 404
    first = app.server.key
    ident = next(k for k in admin_keys(stack, app.app_id) if k)
    assert admin.delete(f"/v1/apps/{app.app_id}/keys/{ident}").status_code == 204
    assert api.as_key(first).get("/v1/users/someone").status_code == 401


def admin_keys(stack: Any, app_id: str) -> list[str]:
    """The key id of the app's first server key (derived from its stored hash)."""
    from pushengine.auth import key_id

    item = dynamodb(stack).Table(stack.table_name("AppsTable")).get_item(Key={"app_id": app_id})["Item"]
    return [key_id(str(item["server_key_hash"]))]
