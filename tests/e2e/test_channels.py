"""One campaign to web, iOS and Android: what each device shows, and what each provider error does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, Standins, new_app

pytestmark = pytest.mark.e2e

MESSAGE = {
    "title": "Hi {{ attributes.first_name | default: 'there' }}",
    "body": "Your {{ tags.plan }} plan: 20% off",
    "image_url": "https://cdn.example.com/sale.png",
    "url": "myshop://sale/42",
    "badge": 3,
    "sound": "default",
    "data": {"sale_id": 42, "vip": True},
    "localizations": {
        "de": {"title": "Hallo {{ attributes.first_name | default: 'du' }}", "body": "{{ tags.plan }}: 20% Rabatt"},
        "pt": {"title": "Olá {{ attributes.first_name | default: 'você' }}", "body": "Plano {{ tags.plan }}: 20% off"},
    },
}  # fmt: skip


def delivered_apns(standins: Standins, token: str) -> list[dict[str, Any]]:
    return [r.payload for r in standins.apns.received_for(token) if r.status == 200]


def test_one_campaign_personalised_and_localised_per_platform(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "channels")
    ios_de, ios_en = (
        standins.apns.new_token("com.example.channels"),
        standins.apns.new_token("com.example.channels"),
    )
    fcm_pt, fcm_ja = standins.fcm.new_token("demo-project"), standins.fcm.new_token("demo-project")
    web_sub = standins.webpush.new_subscription()
    devices = {
        "ios-de": {"platform": "ios", "token": ios_de, "locale": "de-AT", "attributes": {"first_name": "Jonas"}},
        "ios-en": {"platform": "ios", "token": ios_en, "locale": "en-US"},
        "and-pt": {"platform": "android", "token": fcm_pt, "locale": "pt-BR", "attributes": {"first_name": "Ana"}},
        "and-ja": {"platform": "android", "token": fcm_ja, "locale": "ja"},
        "web-de": {"platform": "web", "subscription": web_sub, "locale": "de", "attributes": {"first_name": "Lea"}},
    }  # fmt: skip
    for device_id, body in devices.items():
        r = app.client.put(f"/v1/devices/{device_id}", {**body, "tags": {"plan": "pro"}, "timezone": "UTC"})
        assert r.status_code == 201, r.text
    r = app.server.post("/v1/campaigns", {"name": "multi", "message": MESSAGE, "quiet_hours": "ignore"})
    assert r.status_code == 201, r.text
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=120)

    (de,) = delivered_apns(standins, ios_de)
    assert de["aps"]["alert"] == {"title": "Hallo Jonas", "body": "pro: 20% Rabatt"}
    assert de["aps"]["badge"] == 3 and de["aps"]["sound"] == "default" and de["aps"]["mutable-content"] == 1
    assert de["campaign_id"] == campaign_id and de["url"] == "myshop://sale/42"
    assert de["image_url"] == "https://cdn.example.com/sale.png"
    (en,) = delivered_apns(standins, ios_en)
    assert en["aps"]["alert"] == {"title": "Hi there", "body": "Your pro plan: 20% off"}
    apns_headers = standins.apns.received_for(ios_de)[0].headers
    assert apns_headers["apns-topic"] == "com.example.channels" and apns_headers["apns-push-type"] == "alert"
    assert apns_headers["apns-priority"] == "5"  # marketing: power-considerate priority

    (pt,) = standins.fcm.received_for(fcm_pt)
    assert pt.message["notification"] == {"title": "Olá Ana", "body": "Plano pro: 20% off",
                                          "image": "https://cdn.example.com/sale.png"}  # fmt: skip
    assert pt.message["data"] == {"sale_id": "42", "vip": "true", "campaign_id": campaign_id,
                                  "url": "myshop://sale/42"}  # fmt: skip
    assert pt.message["android"]["ttl"] == "86400s" and pt.message["android"]["collapse_key"]
    (ja,) = standins.fcm.received_for(fcm_ja)
    assert ja.message["notification"]["title"] == "Hi there"  # no ja localisation: the default message

    (web,) = standins.webpush.received_for(web_sub)
    assert (web.payload["title"], web.payload["body"]) == ("Hallo Lea", "pro: 20% Rabatt")
    assert (
        web.payload["image"] == "https://cdn.example.com/sale.png"
        and web.payload["url"] == "myshop://sale/42"
    )
    assert web.topic and web.payload["tag"]

    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()
    assert stats["status"] == "completed" and stats["stats"]["sent"] == 5


def test_provider_errors_lead_to_prune_fail_retry_and_refresh(stack: Any, standins: Standins) -> None:
    app = new_app(Api(stack.api_url), standins, "errors")
    topic = "com.example.errors"
    t = {name: standins.apns.new_token(topic) for name in
         ("unregistered", "bad", "wrong_topic", "throttled", "expired_jwt", "ok")}  # fmt: skip
    f = {
        name: standins.fcm.new_token("demo-project")
        for name in ("unregistered", "invalid", "unavailable", "ok")
    }
    standins.apns.fail(t["unregistered"], "Unregistered")
    standins.apns.fail(t["bad"], "BadDeviceToken")
    standins.apns.fail(t["wrong_topic"], "DeviceTokenNotForTopic")
    standins.apns.fail(t["throttled"], "TooManyRequests", times=2)
    standins.apns.fail(t["expired_jwt"], "ExpiredProviderToken", times=1)
    standins.fcm.fail(f["unregistered"], "UNREGISTERED")
    standins.fcm.fail(f["invalid"], "INVALID_ARGUMENT")
    standins.fcm.fail(f["unavailable"], "UNAVAILABLE", times=1)
    # the token itself is bad: FCM says "not a valid FCM registration token", or it is another project's
    f["malformed"] = "truncated-" + "x" * 30  # passes registration's shape check, not FCM's
    f["other_project"] = standins.fcm.new_token("someone-else")  # SENDER_ID_MISMATCH
    for name, token in t.items():
        assert (
            app.client.put(f"/v1/devices/ios-{name}", {"platform": "ios", "token": token}).status_code == 201
        )
    for name, token in f.items():
        assert (
            app.client.put(f"/v1/devices/and-{name}", {"platform": "android", "token": token}).status_code
            == 201
        )
    jwts_before = standins.apns.jwt_count
    r = app.server.post("/v1/campaigns", {"name": "errors", "message": {"title": "t", "body": "b"},
                                          "quiet_hours": "ignore"})  # fmt: skip
    campaign_id = r.json()["campaign_id"]
    stack.drain(timeout=120)

    sent_apns = {n for n, tok in t.items() if delivered_apns(standins, tok)}
    assert sent_apns == {"throttled", "expired_jwt", "ok"}  # retried / refreshed, then delivered
    assert len([r for r in standins.apns.received_for(t["unregistered"])]) == 1  # pruned: never retried
    assert standins.apns.jwt_count - jwts_before == 2  # the app's first JWT, and one refresh
    sent_fcm = {n for n, tok in f.items() if standins.fcm.received_for(tok)}
    assert sent_fcm == {"unavailable", "ok"}
    for device in ("ios-unregistered", "ios-bad", "and-unregistered", "and-malformed", "and-other_project"):
        assert app.client.get(f"/v1/devices/{device}").json()["status"] == "invalid"
    for device in ("ios-wrong_topic", "and-invalid", "ios-ok"):  # and-invalid: an INVALID_ARGUMENT not about
        assert app.client.get(f"/v1/devices/{device}").json()["status"] == "active"  # its token

    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["sent"], stats["pruned"], stats["failed"]) == (5, 5, 2)
