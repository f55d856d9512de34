"""Apps, provider credentials and devices through the local stack over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from boto3.dynamodb.conditions import Key
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pushengine.dal.devices import partition_key
from pushengine.readplan import BUCKETS
from tests.conftest import ADMIN_KEY, Api, AppKeys, Standins, dynamodb, new_app

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    from tests.conftest import Api as _Api

    return new_app(_Api(stack.api_url), standins, "devices")


def web_device(standins: Standins, **extra: Any) -> dict[str, Any]:
    return {"platform": "web", "subscription": standins.webpush.new_subscription(), "timezone": "Europe/Berlin",
            "locale": "de-DE", "country": "DE", **extra}  # fmt: skip


def partition_of(stack: Any, app_id: str, device_id: str) -> list[str]:
    """Which zones' audience partitions (each zone's 16 bucket keys) hold this device, read straight from the
    GSI."""
    table = dynamodb(stack).Table(stack.table_name("DevicesTable"))
    found = []
    for zone in ("Europe/Berlin", "Asia/Kathmandu", "America/St_Johns", "UTC"):
        for bucket in range(BUCKETS):
            key = Key("aud").eq(partition_key(app_id, zone, bucket))
            items = table.query(IndexName="audience", KeyConditionExpression=key)
            found += [zone for i in items["Items"] if i["device_id"] == device_id]
    return found


def test_register_read_move_and_delete_devices_of_every_platform(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    ios_token = standins.apns.new_token("com.example.devices")
    android_token = standins.fcm.new_token("demo-project")
    bodies = {
        "web-1": web_device(standins, tags={"plan": "pro", "visits": 3, "vip": True},
                            attributes={"first_name": "Ada"}, quiet_hours={"start": "22:00", "end": "07:30"}),
        "ios-1": {"platform": "ios", "token": ios_token, "timezone": "Asia/Kathmandu", "locale": "en-GB",
                  "country": "NP", "user_id": "u-1"},
        "android-1": {"platform": "android", "token": android_token, "timezone": "America/St_Johns",
                      "locale": "pt-BR", "country": "CA", "opted_in": False},
    }  # fmt: skip
    for device_id, body in bodies.items():
        r = shop.client.put(f"/v1/devices/{device_id}", body)
        assert r.status_code == 201, r.text
    again = shop.client.put("/v1/devices/ios-1", bodies["ios-1"])
    assert again.status_code == 200  # idempotent: same device, updated

    web = shop.client.get("/v1/devices/web-1").json()
    assert web["platform"] == "web" and web["status"] == "active"
    assert web["tags"] == {"plan": "pro", "visits": 3, "vip": True}
    assert web["attributes"] == {"first_name": "Ada"}
    assert web["quiet_hours"] == {"start": "22:00", "end": "07:30"}
    assert web["subscription"]["endpoint"] == bodies["web-1"]["subscription"]["endpoint"]
    assert shop.client.get("/v1/devices/android-1").json()["opted_in"] is False
    assert shop.client.get("/v1/devices/ios-1").json()["token"] == ios_token

    # Changing the zone moves the device to the new partition in the same write: never in both, never in neither.
    assert [p.split("#")[0] for p in partition_of(stack, shop.app_id, "web-1")] == ["Europe/Berlin"]
    moved = shop.client.put("/v1/devices/web-1", {**bodies["web-1"], "timezone": "UTC"})
    assert moved.status_code == 200 and moved.json()["timezone"] == "UTC"
    assert [p.split("#")[0] for p in partition_of(stack, shop.app_id, "web-1")] == ["UTC"]
    zones = dynamodb(stack).Table(stack.table_name("ZonesTable"))
    registered = {
        i["zone"] for i in zones.query(KeyConditionExpression=Key("app_id").eq(shop.app_id))["Items"]
    }
    assert {"UTC", "Asia/Kathmandu", "America/St_Johns"} <= registered

    assert shop.client.delete("/v1/devices/android-1").status_code == 204
    assert shop.client.get("/v1/devices/android-1").status_code == 404
    assert shop.client.delete("/v1/devices/android-1").status_code == 404


def test_provider_secrets_live_in_secrets_manager_and_are_never_returned(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    sm = stack.boto3_client("secretsmanager")
    names = {s["Name"] for s in sm.list_secrets()["SecretList"]}
    assert {f"push-engine/push-engine/{shop.app_id}/{p}" for p in ("apns", "fcm", "webpush")} <= names
    r = shop.server.put(f"/v1/apps/{shop.app_id}/providers/webpush", {"subject": "mailto:a@example.com"})
    assert r.status_code == 200
    assert set(r.json()) == {"provider", "configured", "public_key"}
    assert len(r.json()["public_key"]) == 87  # base64url of a 65-byte uncompressed P-256 point


@pytest.mark.parametrize(
    ("provider", "body", "field"),
    [
        ("apns", {"team_id": "TEAM123456", "key_id": "KEY1234567", "private_key": "not a key",
                  "bundle_id": "com.example.x"}, "body.private_key"),
        ("apns", {"team_id": "short", "key_id": "KEY1234567", "private_key": "x", "bundle_id": "b"}, "body.team_id"),
        ("fcm", {"service_account": {"type": "service_account", "project_id": "p"}}, "body.service_account"),
        ("fcm", {"service_account": "{not json"}, "body.service_account"),
        ("webpush", {"subject": "mailto:a@example.com", "private_key": "bm90IGEga2V5"}, "body.private_key"),
        ("webpush", {"subject": "not-a-subject"}, "body.subject"),
    ],
)  # fmt: skip
def test_credentials_that_do_not_parse_are_a_400_naming_the_field(
    shop: AppKeys, provider: str, body: dict[str, Any], field: str
) -> None:
    r = shop.server.put(f"/v1/apps/{shop.app_id}/providers/{provider}", body)
    assert r.status_code == 400, r.text
    assert any(f.startswith(field) for f in [e["field"] for e in r.json()["errors"]]), r.text
    assert "not a key" not in r.text and "bm90IGEga2V5" not in r.text


@pytest.mark.parametrize(
    "token_uri",
    ["http://127.0.0.1:1/token", "https://169.254.169.254/latest/meta-data/iam", "https://10.0.0.1/token",
     "http://[::1]:80/token", "https://attacker.example/token"],
)  # fmt: skip
def test_fcm_credentials_whose_token_uri_is_internal_or_foreign_are_refused(
    shop: AppKeys, standins: Standins, token_uri: str
) -> None:
    account = {**standins.fcm.new_service_account("demo-project"), "token_uri": token_uri}
    r = shop.server.put(f"/v1/apps/{shop.app_id}/providers/fcm", {"service_account": account})
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "body.service_account.token_uri", r.text
    # the stand-in's own token_uri (on FCM_ENDPOINT's origin) is the one that is accepted
    good = standins.fcm.new_service_account("demo-project")
    assert (
        shop.server.put(f"/v1/apps/{shop.app_id}/providers/fcm", {"service_account": good}).status_code == 200
    )


BAD_DEVICES = [
    ({"platform": "windows", "token": "ab" * 32}, "body.platform"),
    ({"platform": "ios", "token": "zz" * 32}, "body.token"),
    ({"platform": "ios"}, "body.token"),
    ({"platform": "android", "token": "short"}, "body.token"),
    ({"platform": "ios", "token": "ab" * 32, "timezone": "Mars/Olympus"}, "body.timezone"),
    ({"platform": "ios", "token": "ab" * 32, "locale": "not a locale"}, "body.locale"),
    ({"platform": "ios", "token": "ab" * 32, "country": "XX"}, "body.country"),
    ({"platform": "ios", "token": "ab" * 32, "quiet_hours": {"start": "25:00", "end": "07:00"}}, "body.quiet_hours.start"),
    ({"platform": "ios", "token": "ab" * 32, "tags": {f"t{i}": i for i in range(51)}}, "body.tags"),
    ({"platform": "ios", "token": "ab" * 32, "tags": {"bad key!": 1}}, "body.tags"),
    ({"platform": "ios", "token": "ab" * 32, "attributes": {"bio": "x" * 2000}}, "body.attributes"),
    ({"platform": "ios", "token": "ab" * 32, "unknown": 1}, "body.unknown"),
    ({"platform": "web"}, "body.subscription"),
    ({"platform": "web", "subscription": {"endpoint": "https://fcm.googleapis.com/x",
      "keys": {"p256dh": "AAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"}}}, "body.subscription.keys.p256dh"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "field"), BAD_DEVICES)
def test_each_device_validation_answers_400_with_the_field(
    shop: AppKeys, body: dict[str, Any], field: str
) -> None:
    r = shop.client.put("/v1/devices/bad-device", body)
    assert r.status_code == 400, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert any(f.startswith(field) for f in fields), (field, r.json())


def test_auth_secret_must_be_16_bytes(shop: AppKeys, standins: Standins) -> None:
    sub = standins.webpush.new_subscription()
    sub["keys"]["auth"] = "AAAA"
    r = shop.client.put("/v1/devices/w", {"platform": "web", "subscription": sub})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body.subscription.keys.auth", r.text


@pytest.mark.parametrize(
    "endpoint",
    ["https://169.254.169.254/latest/meta-data", "https://10.0.0.1/push", "http://localhost:8080/push",
     "https://localhost/push", "file:///etc/passwd", "http://fcm.googleapis.com/fcm/send/x",
     "https://evil.example.com/push", "https://user:pw@fcm.googleapis.com/x"],
)  # fmt: skip
def test_subscriptions_that_would_reach_internal_or_unknown_hosts_are_refused(
    shop: AppKeys, standins: Standins, endpoint: str
) -> None:
    sub = standins.webpush.new_subscription()
    r = shop.client.put(
        "/v1/devices/ssrf", {"platform": "web", "subscription": {**sub, "endpoint": endpoint}}
    )
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["field"] == "body.subscription.endpoint"


def test_malformed_json_is_a_400(shop: AppKeys) -> None:
    r = shop.client.http.put("/v1/devices/x", content=b"{nope", headers={
        "authorization": f"Bearer {shop.client.key}", "content-type": "application/json"})  # fmt: skip
    assert r.status_code == 400, r.text


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
device_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "platform": st.sampled_from(["ios", "android", "web", "x"]) | json_values,
            "token": st.text(max_size=80) | json_values,
            "subscription": json_values,
            "timezone": st.sampled_from(["UTC", "Europe/Paris", "Nope/Zone", ""]) | json_values,
            "locale": st.sampled_from(["en", "pt-BR", "@@"]) | json_values,
            "country": st.sampled_from(["US", "XX"]) | json_values,
            "tags": json_values,
            "attributes": json_values,
            "quiet_hours": json_values,
            "opted_in": json_values,
            "user_id": json_values,
        },
    )
    | json_values
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=device_bodies)
def test_no_device_body_makes_the_api_answer_5xx(shop: AppKeys, body: Any) -> None:
    r = shop.client.put("/v1/devices/prop-device", body)
    assert r.status_code < 500, (body, r.text)


def test_authorization_matrix(stack: Any, standins: Standins, shop: AppKeys) -> None:
    api = Api(stack.api_url)
    other = new_app(api, standins, "other", providers=False)
    shop.client.put("/v1/devices/matrix-dev", web_device(standins))
    campaign_id = shop.server.post(
        "/v1/campaigns",
        {
            "name": "m",
            "message": {"title": "t", "body": "b"},
            "schedule": {"type": "at", "at": "2099-01-01T00:00:00Z"},
        },
    ).json()["campaign_id"]
    keys = {
        "none": None, "wrong": "pes." + shop.app_id + ".not-the-secret", "client": shop.client.key,
        "server": shop.server.key, "admin": ADMIN_KEY, "other": other.server.key,
    }  # fmt: skip
    routes = [
        ("POST", "/v1/apps", {"name": "x"}, {"none": 401, "wrong": 401, "client": 403, "server": 403,
                                            "admin": 201, "other": 403}),
        ("PUT", f"/v1/apps/{shop.app_id}/providers/webpush", {"subject": "mailto:a@b.co"},
         {"none": 401, "wrong": 401, "client": 403, "server": 200, "admin": 403, "other": 403}),
        ("GET", "/v1/devices/matrix-dev", None, {"none": 401, "wrong": 401, "client": 200, "server": 200,
                                                 "admin": 403, "other": 404}),
        ("POST", "/v1/campaigns", {"name": "m", "message": {"title": "t", "body": "b"},
                                   "schedule": {"type": "at", "at": "2099-01-01T00:00:00Z"}},
         {"none": 401, "wrong": 401, "client": 403, "server": 201, "admin": 403, "other": 201}),
        ("GET", "/v1/campaigns", None, {"none": 401, "wrong": 401, "client": 403, "server": 200,
                                        "admin": 403, "other": 200}),
        ("POST", "/v1/events", {"device_id": "matrix-dev", "name": "opened"},
         {"none": 401, "wrong": 401, "client": 202, "server": 202, "admin": 403, "other": 404}),
        ("GET", f"/v1/campaigns/{campaign_id}", None,
         {"none": 401, "wrong": 401, "client": 403, "server": 200, "admin": 403, "other": 404}),
        ("POST", "/v1/audience/count", {"audience": {"attr": "platform", "op": "eq", "value": "web"}},
         {"none": 401, "wrong": 401, "client": 403, "server": 200, "admin": 403, "other": 200}),
        ("PUT", "/v1/devices/matrix-2", web_device(standins),
         {"none": 401, "wrong": 401, "client": 201, "server": 200, "admin": 403, "other": 201}),
        ("DELETE", "/v1/devices/matrix-2", None,
         {"none": 401, "wrong": 401, "client": 204, "server": 404, "admin": 403, "other": 204}),
        ("POST", f"/v1/campaigns/{campaign_id}/cancel", None,
         {"none": 401, "wrong": 401, "client": 403, "server": 200, "admin": 403, "other": 404}),
    ]  # fmt: skip
    for method, path, body, expected in routes:
        for who, key in keys.items():
            caller = shop.client if who == "client" else api.as_key(key)  # the client with its device secrets
            status = caller.request(method, path, body).status_code
            assert status == expected[who], (method, path, who, status)
    # Nothing crosses apps: the other app's campaign list does not show this app's campaigns.
    mine = {c["campaign_id"] for c in shop.server.get("/v1/campaigns").json()["campaigns"]}
    theirs = {c["campaign_id"] for c in other.server.get("/v1/campaigns").json()["campaigns"]}
    assert mine and theirs and not mine & theirs
    for cid in mine:
        assert other.server.get(f"/v1/campaigns/{cid}").status_code == 404


def test_openapi_and_docs(api: Api) -> None:
    spec = api.get("/v1/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    assert {"/v1/apps", "/v1/devices/{device_id}", "/v1/campaigns", "/v1/events"} <= set(spec["paths"])
    docs = api.get("/v1/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
