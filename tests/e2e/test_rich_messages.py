"""Rich and data-only campaigns through the local stack: what each stand-in accepted, and bad input refused."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import Api, AppKeys, Standins, new_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def app(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "rich")


def devices(app: AppKeys, standins: Standins, prefix: str) -> dict[str, Any]:
    ios, android = standins.apns.new_token("com.example.rich"), standins.fcm.new_token("demo-project")
    web = standins.webpush.new_subscription()
    for platform, address in (("ios", {"token": ios}), ("android", {"token": android}),
                              ("web", {"subscription": web})):  # fmt: skip
        r = app.client.put(f"/v1/devices/{prefix}-{platform}", {"platform": platform, **address})
        assert r.status_code == 201, r.text
    return {"ios": ios, "android": android, "web": web}


def send(stack: Any, app: AppKeys, message: dict[str, Any]) -> str:
    r = app.server.post("/v1/campaigns", {"name": "rich", "message": message, "quiet_hours": "ignore"})
    assert r.status_code == 201, r.text
    stack.drain(timeout=120)
    return str(r.json()["campaign_id"])


def test_rich_campaign_reaches_every_platform_as_each_expects(
    stack: Any, standins: Standins, app: AppKeys
) -> None:
    to = devices(app, standins, "rich")
    campaign_id = send(stack, app, {
        "title": "Flash sale", "body": "40% off", "url": "myshop://sale",
        "actions": [{"id": "buy", "title": "Buy"}, {"id": "later", "title": "Later"}],
        "ios": {"thread_id": "sales", "interruption_level": "time-sensitive", "relevance_score": 0.9,
                "subtitle": "Today only"},
        "android": {"channel_id": "sales", "priority": "high", "color": "#FF5722", "icon": "ic_sale",
                    "tag": "sale", "sticky": True},
        "web": {"icon": "https://cdn.example.com/i.png", "require_interaction": True},
    })  # fmt: skip
    (apns,) = [r for r in standins.apns.received_for(to["ios"]) if r.payload["campaign_id"] == campaign_id]
    assert apns.status == 200 and apns.headers["apns-push-type"] == "alert"
    assert apns.payload["aps"] == {
        "alert": {"title": "Flash sale", "subtitle": "Today only", "body": "40% off"}, "mutable-content": 1,
        "category": "pe.buy.later", "thread-id": "sales", "interruption-level": "time-sensitive",
        "relevance-score": 0.9}  # fmt: skip
    (fcm,) = [
        r for r in standins.fcm.received_for(to["android"]) if r.message["data"]["campaign_id"] == campaign_id
    ]
    assert fcm.message["android"]["priority"] == "HIGH"  # the message's own, over marketing's NORMAL
    assert fcm.message["android"]["notification"] == {"channel_id": "sales", "color": "#FF5722",
                                                      "icon": "ic_sale", "tag": "sale", "sticky": True}  # fmt: skip
    assert json.loads(fcm.message["data"]["actions"]) == [{"id": "buy", "title": "Buy"},
                                                          {"id": "later", "title": "Later"}]  # fmt: skip
    (web,) = [r for r in standins.webpush.received_for(to["web"]) if r.payload["campaign_id"] == campaign_id]
    assert web.payload["actions"] == [{"id": "buy", "title": "Buy"}, {"id": "later", "title": "Later"}]
    assert (
        web.payload["icon"] == "https://cdn.example.com/i.png" and web.payload["require_interaction"] is True
    )
    r = app.server.get(f"/v1/campaigns/{campaign_id}")
    assert r.json()["stats"]["failed"] == 0


def test_data_only_campaign_is_a_background_push_and_a_data_message(
    stack: Any, standins: Standins, app: AppKeys
) -> None:
    to = devices(app, standins, "silent")
    campaign_id = send(stack, app, {"content_available": True, "data": {"sync": "cart"}})
    (apns,) = [r for r in standins.apns.received_for(to["ios"]) if r.payload["campaign_id"] == campaign_id]
    assert apns.status == 200  # the stand-in refuses a background push with an alert or at priority 10
    assert (apns.headers["apns-push-type"], apns.headers["apns-priority"]) == ("background", "5")
    assert apns.payload == {
        "aps": {"content-available": 1},
        "campaign_id": campaign_id,
        "data": {"sync": "cart"},
    }
    (fcm,) = [
        r for r in standins.fcm.received_for(to["android"]) if r.message["data"]["campaign_id"] == campaign_id
    ]
    assert "notification" not in fcm.message and fcm.message["data"]["sync"] == "cart"
    (web,) = [
        r for r in standins.webpush.received_for(to["web"]) if r.payload.get("campaign_id") == campaign_id
    ]
    assert web.payload == {"data_only": True, "data": {"sync": "cart"}, "campaign_id": campaign_id}


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"title": "t", "body": "b", "android": {"color": "orange"}}, "body.message.android.color"),
        ({"title": "t", "body": "b", "ios": {"relevance_score": 2}}, "body.message.ios.relevance_score"),
        ({"title": "t", "body": "b", "actions": [{"id": f"a{i}", "title": "x"} for i in range(4)]},
         "body.message.actions"),
        ({"content_available": True, "title": "t"}, "body.message.title"),
        ({"body": "b"}, "body.message.title"),
    ],
)  # fmt: skip
def test_bad_rich_fields_are_refused_naming_the_field(
    app: AppKeys, message: dict[str, Any], field: str
) -> None:
    r = app.server.post("/v1/campaigns", {"name": "bad", "message": message})
    assert r.status_code == 400, r.text
    assert field in [e["field"] for e in r.json()["errors"]], r.json()


def test_events_count_delivered_once_and_only_known_buttons(
    stack: Any, standins: Standins, app: AppKeys
) -> None:
    devices(app, standins, "events")
    campaign_id = send(stack, app, {"title": "t", "body": "b", "actions": [{"id": "buy", "title": "Buy"}]})
    for name, properties in (("delivered", None), ("delivered", None), ("clicked", {"action_id": "buy"}),
                             ("clicked", {"action_id": "buy"}), ("clicked", {"action_id": "forged"})):  # fmt: skip
        body = {"device_id": "events-web", "name": name, "campaign_id": campaign_id}
        r = app.client.post("/v1/events", body | ({"properties": properties} if properties else {}))
        assert r.status_code == 202, r.text
    stats = app.server.get(f"/v1/campaigns/{campaign_id}").json()["stats"]
    assert (stats["delivered"], stats["clicked"], stats["clicked_actions"]) == (1, 1, {"buy": 1})


def test_the_api_answers_a_browsers_cors_preflight(stack: Any) -> None:
    origin = "https://shop.example.com"
    preflight = httpx.options(f"{stack.api_url}/v1/events", headers={
        "origin": origin, "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type"})  # fmt: skip
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"  # CorsAllowOrigins' default
    assert "POST" in preflight.headers["access-control-allow-methods"].split(",")
    assert {"authorization", "content-type"} <= set(
        preflight.headers["access-control-allow-headers"].split(",")
    )
    answer = httpx.get(f"{stack.api_url}/v1/campaigns", headers={"origin": origin})  # the function's answer
    assert answer.status_code == 401 and answer.headers["access-control-allow-origin"] == "*"
    assert (
        "access-control-allow-origin" not in httpx.get(f"{stack.api_url}/v1/campaigns").headers
    )  # no Origin
