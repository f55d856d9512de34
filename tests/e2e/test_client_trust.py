"""What a client key must prove on the local stack: the device's secret, a token for the user it names, and a
bounded event rate. Each refusal is answered before the body is validated (a body that would be a 400 gets
the 403 or 429) and changes nothing, read back with the server key."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pushengine.auth import hash_key, new_key
from pushengine.identity import mint
from tests.conftest import Api, AppKeys, ClientTrust, Standins, dynamodb, import_devices, new_app

pytestmark = pytest.mark.e2e

INVALID = {"platform": "web", "timezone": "Mars/Olympus_Mons"}  # a 400 if it were ever validated


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "trust")


def web(standins: Standins, **extra: Any) -> dict[str, Any]:
    return {"platform": "web", "subscription": standins.webpush.new_subscription(), "timezone": "Europe/Paris",
            **extra}  # fmt: skip


def bare(app: AppKeys) -> Api:
    """The app's client key as anyone can pull it out of the app: no device secret, no user token."""
    return app.client.as_key(app.client.key)


def stored(app: AppKeys, device_id: str) -> Any:
    r = app.server.get(f"/v1/devices/{device_id}")
    return r.status_code, r.json() if r.status_code == 200 else None


def event_names(stack: Any, app_id: str) -> set[str]:
    table = dynamodb(stack).Table(stack.table_name("AudienceTable"))
    return set(table.get_item(Key={"app_id": app_id, "key": "event-names"}).get("Item", {}).get("names", ()))


def test_a_client_key_without_the_device_secret_is_refused_on_get_put_delete_and_events(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    created = shop.client.put("/v1/devices/owned", web(standins, tags={"plan": "pro"}))
    assert created.status_code == 201 and len(created.json()["device_secret"]) >= 32
    secret = created.json()["device_secret"]
    before = stored(shop, "owned")
    assert "device_secret" not in before[1] and "secret_hash" not in before[1]  # shown once, stored hashed
    stranger = bare(shop)
    for given in ({}, {"x-device-secret": "not-the-secret"}, {"x-device-secret": ""}):
        for method, path, body in [
            ("GET", "/v1/devices/owned", None),
            ("PUT", "/v1/devices/owned", INVALID),  # refused before the body is read for what it says
            ("PUT", "/v1/devices/owned", web(standins)),  # a stranger's subscription in place of the owner's
            ("DELETE", "/v1/devices/owned", None),
            ("POST", "/v1/events", {"device_id": "owned", "name": "app_open", "bogus": 1}),
            ("POST", "/v1/events", {"device_id": "owned", "name": "purchase", "value": 99}),
        ]:
            r = stranger.request(method, path, body, headers=given)
            assert r.status_code == 403, (method, path, given, r.text)
            assert r.json()["errors"] == [{"field": "x-device-secret", "reason": r.json()["message"]}]
        batch = stranger.post("/v1/events/batch", {"events": [{"device_id": "owned", "name": "app_open"}]},
                              headers=given)  # fmt: skip
        assert batch.status_code == 202 and batch.json()["results"][0]["status"] == 403, batch.text
    assert stored(shop, "owned") == before  # nothing changed: no event counted, the device as it was
    assert "app_open" not in event_names(stack, shop.app_id)

    # the owner's secret works; the server key needs none, and a reset stops the old secret at once
    assert stranger.get("/v1/devices/owned", headers={"x-device-secret": secret}).status_code == 200
    ok = stranger.post(
        "/v1/events", {"device_id": "owned", "name": "app_open"}, headers={"x-device-secret": secret}
    )
    assert ok.status_code == 202, ok.text
    reset = shop.server.post("/v1/devices/owned/secret")
    assert reset.status_code == 200 and reset.json()["device_secret"] != secret
    assert stranger.get("/v1/devices/owned", headers={"x-device-secret": secret}).status_code == 403
    fresh = {"x-device-secret": reset.json()["device_secret"]}
    assert stranger.get("/v1/devices/owned", headers=fresh).status_code == 200
    assert (
        shop.client.as_key(shop.client.key).post("/v1/devices/none/secret").status_code == 403
    )  # server only
    assert shop.server.post("/v1/devices/nobody/secret").status_code == 404
    assert stranger.delete("/v1/devices/owned", headers=fresh).status_code == 204


def test_an_imported_device_is_claimed_by_its_own_push_address_and_not_by_another(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    own = standins.webpush.new_subscription()
    token = standins.fcm.new_token("demo-project")
    import_devices(stack, shop, {
        "imported-web": {"platform": "web", "subscription": own, "timezone": "UTC", "tags": {"tier": "gold"}},
        "imported-android": {"platform": "android", "token": token, "timezone": "UTC"},
    })  # fmt: skip
    before = {d: stored(shop, d) for d in ("imported-web", "imported-android")}
    stranger = bare(shop)
    # without a secret yet, only a PUT may prove the device: reads, deletes and events are refused
    assert stranger.get("/v1/devices/imported-web").status_code == 403
    assert stranger.delete("/v1/devices/imported-web").status_code == 403
    assert stranger.post("/v1/events", {"device_id": "imported-web", "name": "app_open"}).status_code == 403
    # another push address claims nothing
    other = stranger.put("/v1/devices/imported-web", web(standins))
    assert other.status_code == 403, other.text
    android = {"platform": "android", "token": standins.fcm.new_token("demo-project"), "timezone": "UTC"}
    assert stranger.put("/v1/devices/imported-android", android).status_code == 403
    assert {d: stored(shop, d) for d in before} == before

    claimed = stranger.put(
        "/v1/devices/imported-web", {"platform": "web", "subscription": own, "timezone": "UTC"}
    )
    assert claimed.status_code == 200 and claimed.json()["device_secret"], claimed.text
    mine = {"x-device-secret": claimed.json()["device_secret"]}
    assert (
        stranger.get("/v1/devices/imported-web", headers=mine).json()["subscription"]["endpoint"]
        == own["endpoint"]
    )
    # claimed once: the same address without the secret no longer claims it
    again = stranger.put(
        "/v1/devices/imported-web", {"platform": "web", "subscription": own, "timezone": "UTC"}
    )
    assert again.status_code == 403
    by_token = stranger.put("/v1/devices/imported-android", {**android, "token": token})
    assert by_token.status_code == 200 and by_token.json()["device_secret"]


def test_identity_verification_refuses_a_missing_expired_or_other_users_token(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    secret = shop.client.trust.identity_secret if shop.client.trust else None
    assert secret
    stranger = bare(shop)
    expired = mint(secret, "u-ada", expires_in=60, now=time.time() - 3600)
    tokens = {"missing": {}, "expired": {"x-user-token": expired},
              "other user": {"x-user-token": mint(secret, "u-bob")},
              "other app": {"x-user-token": mint("another-apps-secret-of-32-bytes!", "u-ada")},
              "garbage": {"x-user-token": "not.a.jwt"}}  # fmt: skip
    for why, given in tokens.items():
        # a new device naming a user: refused even where the body would be a 400
        for body in ({**INVALID, "user_id": "u-ada"}, web(standins, user_id="u-ada")):
            r = stranger.put("/v1/devices/ada-phone", body, headers=given)
            assert r.status_code == 403 and r.json()["errors"][0]["field"] == "x-user-token", (why, r.text)
        for body in (
            {"user_id": "u-ada", "name": "purchase", "bogus": True},
            {"user_id": "u-ada", "name": "purchase"},
        ):
            r = stranger.post("/v1/events", body, headers=given)
            assert r.status_code == 403 and r.json()["errors"][0]["field"] == "x-user-token", (why, r.text)
        batch = stranger.post("/v1/events/batch", {"events": [{"user_id": "u-ada", "name": "purchase"}]},
                              headers=given)  # fmt: skip
        assert batch.json()["results"][0]["status"] == 403, (why, batch.text)
    assert stored(shop, "ada-phone")[0] == 404  # nothing was registered

    ada = {"x-user-token": mint(secret, "u-ada")}
    created = stranger.put("/v1/devices/ada-phone", web(standins, user_id="u-ada"), headers=ada)
    assert created.status_code == 201, created.text
    assert (
        stranger.post("/v1/events", {"user_id": "u-ada", "name": "purchase"}, headers=ada).status_code == 202
    )
    # the server key is the app's backend: it names users without tokens
    assert shop.server.post("/v1/events", {"user_id": "u-ada", "name": "purchase"}).status_code == 202
    user = shop.server.get("/v1/users/u-ada").json()
    assert user["devices"][0]["events"]["purchase"]["count"] == 2
    # a rotated secret: tokens signed with the old one stop verifying
    rotated = shop.server.post(f"/v1/apps/{shop.app_id}/identity-secret")
    assert rotated.status_code == 200 and rotated.json()["identity_secret"] != secret
    assert bare(shop).as_key(None).post(f"/v1/apps/{shop.app_id}/identity-secret").status_code == 401
    assert stranger.post(f"/v1/apps/{shop.app_id}/identity-secret").status_code == 403


def test_client_events_past_the_per_device_rate_get_429_and_take_no_slot(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "rate", providers=False)
    r = app.server.put(f"/v1/apps/{app.app_id}/settings", {"client_event_rate": 3})
    assert r.status_code == 200 and r.json()["client_event_rate"] == 3
    assert r.json()["device_secrets"] == r.json()["identity_verification"] == "required"  # kept by the PUT
    assert app.client.put("/v1/devices/calm", web(standins)).status_code == 201
    # the window is the wall clock's minute (the engine's, which a test cannot drive inside the stack's
    # process): a round that saw the minute turn is run again on a fresh device, so no reading of the clock
    # decides the outcome. The window's arithmetic on a driven clock: tests/integration/test_event_rate.py.
    for attempt in range(3):
        minute, busy = time.time() // 60, f"busy{attempt}"
        assert app.client.put(f"/v1/devices/{busy}", web(standins)).status_code == 201
        accepted = [app.client.post("/v1/events", {"device_id": busy, "name": "app_open"}) for _ in range(3)]
        refused = [
            app.client.post("/v1/events", body)
            for body in ({"device_id": busy, "name": "app_open"}, {"device_id": busy, "name": "x", "b": 1})
        ]
        batch = app.client.post("/v1/events/batch", {"events": [{"device_id": busy, "name": "app_open"}]})
        if time.time() // 60 == minute:
            break
    assert [r.status_code for r in accepted] == [202] * 3
    assert [r.status_code for r in refused] == [429, 429], refused[0].text  # refused before validation
    assert all(1 <= int(r.headers["retry-after"]) <= 60 for r in refused)
    assert batch.json()["results"][0]["status"] == 429
    # another device has its own allowance; the server key is not bounded
    assert app.client.post("/v1/events", {"device_id": "calm", "name": "app_open"}).status_code == 202
    assert app.server.post("/v1/events", {"device_id": busy, "name": "app_open"}).status_code == 202
    assert stored(app, busy)[1]["events"]["app_open"]["count"] == 4  # 3 client events and the server's

    # an unknown device's event takes no event-name slot, with either key
    for api in (app.client, app.server):
        r = api.post("/v1/events", {"device_id": "nobody", "name": "squatted_name"})
        assert r.status_code == 404 and r.json()["errors"][0]["field"] == "body.device_id", r.text
    r = app.server.post("/v1/events", {"user_id": "nobody", "name": "squatted_by_user"})
    assert r.status_code == 404
    assert not {"squatted_name", "squatted_by_user"} & event_names(stack, app.app_id)
    assert "app_open" in event_names(stack, app.app_id)


def legacy_app(stack: Any, api: Api) -> AppKeys:
    """An app as a deployment made before this release stored it: keys, no identity secret, no settings."""
    app_id = "app_" + "0123456789abcdef"
    client_key, server_key = new_key("client", app_id), new_key("server", app_id)
    dynamodb(stack).Table(stack.table_name("AppsTable")).put_item(Item={
        "app_id": app_id, "name": "legacy", "created_at": "2026-01-01T00:00:00.000Z",
        "client_key_hash": hash_key(client_key), "server_key_hash": hash_key(server_key), "providers": {}})  # fmt: skip
    return AppKeys(app_id, api.as_key(server_key), Api(str(api.http.base_url), client_key, ClientTrust()))


def test_an_app_made_before_this_release_registers_devices_and_posts_events_unchanged(
    stack: Any, standins: Standins
) -> None:
    app = legacy_app(stack, Api(stack.api_url))
    old_sdk = bare(app)  # sends neither secrets nor tokens, as before
    body = web(standins, user_id="u-legacy")
    r = old_sdk.put("/v1/devices/legacy-1", body)
    assert r.status_code == 201 and r.json()["device_secret"] is None, r.text  # none issued: nothing to keep
    assert old_sdk.put("/v1/devices/legacy-1", body).status_code == 200
    assert old_sdk.get("/v1/devices/legacy-1").json()["user_id"] == "u-legacy"
    assert old_sdk.post("/v1/events", {"device_id": "legacy-1", "name": "app_open"}).status_code == 202
    assert old_sdk.post("/v1/events", {"user_id": "u-legacy", "name": "purchase"}).status_code == 202
    batch = old_sdk.post("/v1/events/batch", {"events": [{"device_id": "legacy-1", "name": "app_open"}]})
    assert batch.json()["results"][0]["status"] == 202
    got = app.server.get("/v1/devices/legacy-1").json()["events"]
    assert (got["app_open"]["count"], got["purchase"]["count"]) == (2, 1)
    settings = app.server.get(f"/v1/apps/{app.app_id}/settings").json()
    assert settings.get("identity_verification") is None and settings.get("device_secrets") is None  # off
    assert old_sdk.delete("/v1/devices/legacy-1").status_code == 204
