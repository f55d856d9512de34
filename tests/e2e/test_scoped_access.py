"""Key kinds, console roles and the audit log on the local stack: the analytics key reads results and
nothing else (each refusal answered before the body is read, nothing changed); the app's own server key
issues and revokes its keys; the audit log shows who created, paused and cancelled a campaign, key or
console user, newest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pushengine.auth import hash_key, key_id
from tests.conftest import ADMIN_KEY, Api, AppKeys, Standins, console_user, new_app

pytestmark = pytest.mark.e2e

NOT_JSON = "not json at all"  # a body that would be a 400 if it were ever read


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "scoped")


def later(stack: Any) -> dict[str, str]:
    at = (max(datetime.now(UTC), stack.clock.now()) + timedelta(hours=3)).replace(microsecond=0)
    return {"type": "at", "at": at.isoformat()}


def campaign(api: Api, stack: Any, name: str) -> str:
    r = api.post("/v1/campaigns", {"name": name, "message": {"title": "t", "body": "b"}, "schedule": later(stack)})
    assert r.status_code == 201, r.text
    return str(r.json()["campaign_id"])


def raw(api: Api, method: str, path: str) -> Any:
    return api.http.request(method, path, content=NOT_JSON, headers={
        "authorization": f"Bearer {api.key}", "content-type": "application/json"})  # fmt: skip


def test_the_analytics_key_reads_results_and_cannot_write_nor_read_people_or_credentials(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    issued = shop.server.post(f"/v1/apps/{shop.app_id}/keys", {"kind": "analytics"})  # the app's own server key
    assert issued.status_code == 201, issued.text
    analytics = shop.server.as_key(issued.json()["key"])
    campaign_id = campaign(shop.server, stack, "readable")
    template = shop.server.post("/v1/templates", {"name": "t", "message": {"title": "t", "body": "b"}})
    segment = shop.server.post("/v1/segments", {"name": "pro", "filter": {"attr": "tags.plan", "op": "eq",
                                                                            "value": "pro"}})  # fmt: skip
    assert template.status_code == 201 and segment.status_code == 201, (template.text, segment.text)
    device = shop.client.put("/v1/devices/dev-a", {"platform": "android", "token": "t" * 40, "user_id": "u-1"})
    assert device.status_code == 201, device.text

    reads = [
        ("GET", "/v1/campaigns"), ("GET", f"/v1/campaigns/{campaign_id}"),
        ("GET", f"/v1/campaigns/{campaign_id}/timeseries"), ("GET", "/v1/segments"),
        ("GET", f"/v1/segments/{segment.json()['segment_id']}"), ("GET", "/v1/templates"),
        ("GET", f"/v1/templates/{template.json()['template_id']}"),
    ]  # fmt: skip
    for method, path in reads:
        assert analytics.request(method, path).status_code == 200, path
    assert analytics.post("/v1/audience/count", {"audience": None}).json()["count"] == 1

    refused = [
        ("POST", "/v1/campaigns"), ("POST", f"/v1/campaigns/{campaign_id}/cancel"),
        ("POST", f"/v1/campaigns/{campaign_id}/pause"), ("PATCH", f"/v1/campaigns/{campaign_id}"),
        ("POST", "/v1/segments"), ("POST", "/v1/templates"), ("POST", "/v1/messages"),
        ("PUT", "/v1/devices/dev-a"), ("GET", "/v1/devices/dev-a"), ("DELETE", "/v1/devices/dev-a"),
        ("GET", "/v1/users/u-1"), ("DELETE", "/v1/users/u-1"), ("POST", "/v1/events"),
        ("PUT", f"/v1/apps/{shop.app_id}/providers/fcm"), ("GET", f"/v1/apps/{shop.app_id}/settings"),
        ("PUT", f"/v1/apps/{shop.app_id}/settings"), ("POST", f"/v1/apps/{shop.app_id}/keys"),
        ("POST", "/v1/devices/export"), ("GET", "/v1/audit"),
    ]  # fmt: skip
    before = shop.server.get("/v1/campaigns").json()
    for method, path in refused:
        answer = raw(analytics, method, path)
        assert answer.status_code == 403, (method, path, answer.text)
        assert "analytics key may not call this route" in answer.json()["message"]
    assert shop.server.get("/v1/campaigns").json() == before
    assert shop.server.get("/v1/devices/dev-a").status_code == 200

    # The app's server key revokes the key it issued; another app's server key may do neither.
    other = new_app(Api(stack.api_url), standins, "other", providers=False)
    assert other.server.post(f"/v1/apps/{shop.app_id}/keys", {"kind": "analytics"}).status_code == 403
    path = f"/v1/apps/{shop.app_id}/keys/{issued.json()['key_id']}"
    assert other.server.delete(path).status_code == 403
    assert shop.server.delete(path).status_code == 204
    assert shop.server.delete(path).status_code == 404


def test_the_audit_log_shows_who_created_paused_and_cancelled_a_campaign(stack: Any, shop: AppKeys) -> None:
    marketer = console_user(stack, shop.app_id, "marketer", "mia")
    admin = console_user(stack, shop.app_id, "admin", "ada")
    analyst = console_user(stack, shop.app_id, "analyst", "ana")
    by_key = campaign(shop.server, stack, "by key")
    for step in ("pause", "resume", "cancel"):  # a paused campaign resumes before it is cancelled
        assert shop.server.post(f"/v1/campaigns/{by_key}/{step}").status_code == 200, step
    by_mia = campaign(marketer, stack, "by mia")
    for step in ("pause", "resume", "cancel"):
        assert marketer.post(f"/v1/campaigns/{by_mia}/{step}").status_code == 200, step
    assert raw(analyst, "POST", "/v1/campaigns").status_code == 403  # refused, and recorded
    assert raw(marketer, "PUT", f"/v1/apps/{shop.app_id}/settings").status_code == 403  # not a marketer's
    assert marketer.get("/v1/audit").status_code == 403
    assert analyst.get("/v1/campaigns").status_code == 200  # reads are not recorded

    entries = shop.server.get("/v1/audit?limit=100").json()["entries"]
    assert entries == sorted(entries, key=lambda e: e["at"], reverse=True)
    server_key = {"kind": "server", "key_id": key_id(hash_key(str(shop.server.key)))}
    mia = {"kind": "console", "user": "mia", "role": "marketer"}
    seen = [(e["actor"], e["action"], e["target"], e["status"]) for e in entries]
    def life(actor: dict[str, str], campaign_id: str) -> list[tuple[Any, ...]]:
        steps = [(actor, f"POST /v1/campaigns/{{campaign_id}}/{step}", f"campaign_id:{campaign_id}", 200)
                 for step in ("cancel", "resume", "pause")]  # fmt: skip
        return [*steps, (actor, "POST /v1/campaigns", f"campaign_id:{campaign_id}", 201)]

    assert seen[:10] == [
        (mia, "PUT /v1/apps/{app_id}/settings", f"app_id:{shop.app_id}", 403),
        ({"kind": "console", "user": "ana", "role": "analyst"}, "POST /v1/campaigns", "", 403),
        *life(mia, by_mia),
        *life(server_key, by_key),
    ]

    # A console admin reads it too, a page at a time; nothing of another app is in it.
    first = admin.get("/v1/audit?limit=3").json()
    second = admin.get(f"/v1/audit?limit=3&next_token={first['next_token']}").json()
    assert first["entries"] + second["entries"] == entries[:6]
    assert ADMIN_KEY not in str(entries) and str(shop.server.key) not in str(entries)


def test_an_app_s_keys_are_listed_by_id_kind_and_last_four_characters_never_the_secret(
    stack: Any, standins: Standins
) -> None:
    app = new_app(Api(stack.api_url), standins, "listed", providers=False)
    route = f"/v1/apps/{app.app_id}/keys"
    issued = [app.server.post(route, {"kind": kind}).json() for kind in ("analytics", "server")]
    secrets = [app.server.key, app.client.key, *(k["key"] for k in issued)]
    first = {key_id(hash_key(app.client.key)): "client", key_id(hash_key(app.server.key)): "server"}

    for caller in (app.server, Api(stack.api_url, ADMIN_KEY), console_user(stack, app.app_id, "admin", "kay")):
        answer = caller.get(route)
        assert answer.status_code == 200, answer.text
        for secret in secrets:  # neither a key, nor its hash, nor the part after the public prefix
            for hidden in (secret, hash_key(secret), secret.rsplit(".", 1)[1][:-4]):
                assert hidden not in answer.text, hidden
        listed = answer.json()["keys"]
        assert [(k["key_id"], k["kind"]) for k in listed[2:]] == [(k["key_id"], k["kind"]) for k in issued]
        assert {k["key_id"]: k["kind"] for k in listed[:2]} == first
        by_id = {k["key_id"]: k for k in listed}
        for key, kind in [(app.client.key, "client"), (app.server.key, "server"), *((k["key"], k["kind"]) for k in issued)]:
            shown = by_id[key_id(hash_key(key))]
            assert (shown["prefix"], shown["last4"]) == (f"{key.split('.')[0]}.{app.app_id}.", key[-4:]), shown
            assert shown["kind"] == kind and key.startswith(shown["prefix"])
        assert set(listed[0]) == {"key_id", "kind", "created_at", "prefix", "last4"}

    # the analytics key, a client key, the marketer and another app's server key may not list
    marketer = console_user(stack, app.app_id, "marketer", "mark")
    other = new_app(Api(stack.api_url), standins, "listed-other", providers=False)
    for refused in (app.server.as_key(issued[0]["key"]), app.client, marketer, other.server):
        answer = refused.get(route)
        assert answer.status_code == 403, answer.text
    assert Api(stack.api_url, ADMIN_KEY).get("/v1/apps/app_0000000000000000/keys").status_code == 404
    # revoked, a key leaves the list
    assert app.server.delete(f"{route}/{issued[1]['key_id']}").status_code == 204
    assert issued[1]["key_id"] not in {k["key_id"] for k in app.server.get(route).json()["keys"]}
