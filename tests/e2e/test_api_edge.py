"""The API's edge over HTTP: who may call a route is settled before anything is parsed, and no body,
however odd, gets more than a 4xx naming the field."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from functions.api_docs.app import ROUTERS
from pushengine.http import Access
from pushengine.limits import MAX_BODY_BYTES
from samlocal.template import read_yaml
from tests.conftest import ADMIN_KEY, ANSWERS, ROOT, Api, AppKeys, Standins, new_app

pytestmark = pytest.mark.e2e

ROUTES: dict[str, Access] = {key: access for router in ROUTERS for key, access in router.access.items()}
# Routes with nothing to make invalid (any user id is a valid one): the right key gets its answer.
NO_INPUT = {"GET /v1/segments": 200, "GET /v1/users/{user_id}": 404, "GET /v1/templates": 200,
            "DELETE /v1/users/{user_id}": 404, "POST /v1/devices/export": 202,
            "GET /v1/apps/{app_id}/settings": 200, "POST /v1/apps/{app_id}/identity-secret": 200,
            "POST /v1/apps/{app_id}/webhook-secret": 200,
            "GET /v1/apps/{app_id}/opt-in": 200, "GET /v1/apps/{app_id}/console-users": 200,
            "GET /v1/apps/{app_id}/keys": 200}  # fmt: skip
INVALID_BODIES = {"schema": json.dumps({"unexpected": True, "name": 7}).encode(), "bytes": b"\xff\xfe{"}


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "edge")


@pytest.fixture(scope="module")
def other(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "edge-other", providers=False)


_ANALYTICS: dict[str, str] = {}


def analytics_key(shop: AppKeys) -> str:
    """The shop's analytics key, issued once by its own server key."""
    if shop.app_id not in _ANALYTICS:
        issued = shop.server.post(f"/v1/apps/{shop.app_id}/keys", {"kind": "analytics"})
        assert issued.status_code == 201, issued.text
        _ANALYTICS[shop.app_id] = issued.json()["key"]
    return _ANALYTICS[shop.app_id]


def send(api: Api, key: str | None, method: str, path: str, body: bytes, **headers: str) -> httpx.Response:
    auth = {"authorization": f"Bearer {key}"} if key else {}
    return api.http.request(
        method, path, content=body, headers={"content-type": "application/json", **auth, **headers}
    )


def key_cases() -> list[tuple[str, str, int]]:
    """(route key, who, expected status) for every declared route: no key and an unknown key are 401;
    every kind of key the route does not take is 403; another app's key on an app's own route is 403;
    the right key gets as far as validation (400), which proves the input really is invalid."""
    cases = []
    for key, access in ROUTES.items():
        if not access.kinds:  # public (the console's sign-in): validation first, whoever calls
            cases += [(key, "none", 400), (key, "unknown", 400)]
            continue
        cases += [(key, "none", 401), (key, "unknown", 401), (key, "right", NO_INPUT.get(key, 400))]
        cases += [(key, kind, 403) for kind in ("admin", "server", "client", "analytics") if kind not in access.kinds]
        if access.app_param:
            cases.append((key, "other-app", 403))
    return cases


@pytest.mark.parametrize("body", sorted(INVALID_BODIES))
@pytest.mark.parametrize(("route", "who", "expected"), key_cases())
def test_authorization_comes_before_validation_on_every_route(
    stack: Any, shop: AppKeys, other: AppKeys, route: str, who: str, expected: int, body: str
) -> None:
    access = ROUTES[route]
    method, template = route.split(" ", 1)
    kinds = {"admin": ADMIN_KEY, "server": shop.server.key, "client": shop.client.key, "analytics": analytics_key(shop)}
    keys = {**kinds, "none": None, "unknown": f"pes.{shop.app_id}.not-the-secret",
            "other-app": other.server.key, "right": kinds[access.kinds[0]] if access.kinds else None}  # fmt: skip
    # Every path parameter and the query are invalid too, except the app id when the key's app is tested.
    path = template.replace("{app_id}", shop.app_id if who in ("other-app", "right") else "not-an-app")
    for name in ("provider", "device_id", "campaign_id", "segment_id", "user_id", "message_id", "template_id",
                 "key_id", "import_id", "export_id", "username", "activity_id"):  # fmt: skip
        path = path.replace(f"{{{name}}}", "bad!value")
    r = send(Api(stack.api_url), keys[who], method, path + "?limit=0", INVALID_BODIES[body])
    assert r.status_code == expected, (route, who, r.text)
    assert route in NO_INPUT or r.json()["errors"] or expected in (401, 403), r.text
    if expected in (401, 403):
        assert "unexpected" not in r.text and "name" not in [e["field"] for e in r.json()["errors"]]


def test_every_route_the_template_serves_is_declared_to_its_function(stack: Any) -> None:
    """A route the code does not declare is refused (fail closed), so each template route must answer
    as declared: 401 without a key, or 200 for the public docs."""
    routes = set()
    for resource in read_yaml(ROOT / "template.yaml")["Resources"].values():
        for event in (resource.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") == "HttpApi":
                routes.add(f"{event['Properties']['Method']} {event['Properties']['Path']}")
    public = {"GET /v1/openapi.json", "GET /v1/docs", "GET /console", "GET /console/{path+}"}
    assert routes - public == set(ROUTES)
    api = Api(stack.api_url)
    for route in sorted(routes):
        method, path = route.split(" ", 1)
        r = api.request(method, path.replace("{", "").replace("}", ""))
        if "{path+}" in path:
            continue  # the console's files: served without a key, a file name that is none is a 404
        public_page = "/docs" in path or "openapi" in path or path == "/console"
        expected = 200 if public_page else 400 if not ROUTES.get(route, Access(("admin",))).kinds else 401
        assert r.status_code == expected, (route, r.text)


WEB = {"platform": "web", "timezone": "UTC"}
CAMPAIGN = {
    "name": "n",
    "message": {"title": "t", "body": "b"},
    "schedule": {"type": "at", "at": "2099-01-01T00:00:00Z"},
}
IOS = {"platform": "ios", "token": "ab" * 32}


def _deep(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


def _campaign(**message: Any) -> dict[str, Any]:
    return {**CAMPAIGN, "message": {"title": "t", "body": "b", **message}}


def _number_bodies() -> list[tuple[str, str, str, Any, str]]:
    """(case, method, path, body, field) for each place a number DynamoDB cannot hold may arrive."""
    cases = []
    big = 12345678901234567890123456789012345678901
    for label, n in [("1e300", 1e300), ("1e-300", 1e-300), ("41 digits", big)]:
        variant = {"name": "a", "weight": n, "message": {"title": "t", "body": "b"}}
        cases += [
            (f"tag {label}", "PUT", "/v1/devices/num", {**IOS, "tags": {"n": n}}, "body.tags.n"),
            (f"attribute {label}", "PUT", "/v1/devices/num", {**IOS, "attributes": {"n": n}}, "body.attributes.n"),
            (f"data {label}", "POST", "/v1/campaigns", _campaign(data={"n": n}), "body.message.data.n"),
            (f"filter {label}", "POST", "/v1/campaigns",
             {**CAMPAIGN, "audience": {"attr": "tags.n", "op": "gt", "value": n}}, "body.audience.value"),
            (f"in-list {label}", "POST", "/v1/audience/count",
             {"audience": {"attr": "tags.n", "op": "in", "value": [1, n]}}, "body.audience.value[1]"),
            (f"event value {label}", "POST", "/v1/events", {"device_id": "num", "name": "buy", "value": n}, "body.value"),
            (f"weight {label}", "POST", "/v1/campaigns", {**CAMPAIGN, "variants": [variant]}, "body.variants.0.weight"),
            (f"holdout {label}", "POST", "/v1/campaigns", {**CAMPAIGN, "holdout_percent": n}, "body.holdout_percent"),
        ]  # fmt: skip
    cases.append(("badge 41 digits", "POST", "/v1/campaigns", _campaign(badge=big), "body.message.badge"))
    return cases


def _raw_number_bodies() -> list[tuple[str, str, str, bytes, str]]:
    """Numbers JSON itself cannot carry, or that Python would turn into infinity."""
    device = b'{"platform":"ios","token":"' + b"ab" * 32 + b'","tags":{"n":%s}}'
    return [
        ("1e400", "PUT", "/v1/devices/num", device % b"1e400", "body.tags.n"),
        ("NaN", "PUT", "/v1/devices/num", device % b"NaN", "body"),
        ("Infinity", "PUT", "/v1/devices/num", device % b"-Infinity", "body"),
        ("badge 1e400", "POST", "/v1/campaigns",
         json.dumps({**CAMPAIGN, "message": {"title": "t", "body": "b"}}).encode()[:-1] + b',"x":1e400}', "body.x"),
    ]  # fmt: skip


def _size_bodies() -> list[tuple[str, str, str, Any, str]]:
    many = {f"k{i}": i for i in range(51)}
    message = {"title": "t", "body": "b"}
    languages = [f"{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(201)]  # aa, ab, ...: valid tags
    locales = {lang: {"title": "t" * 256, "body": "b" * 2048} for lang in languages[:200]}
    return [
        ("in list 1001", "POST", "/v1/audience/count",
         {"audience": {"attr": "tags.plan", "op": "in", "value": [f"v{i}" for i in range(1001)]}}, "body.audience.value"),
        ("tags 51", "PUT", "/v1/devices/sizes", {**IOS, "tags": many}, "body.tags"),
        ("attributes 51", "PUT", "/v1/devices/sizes", {**IOS, "attributes": many}, "body.attributes"),
        ("data 51", "POST", "/v1/campaigns", {**CAMPAIGN, "message": {**message, "data": many}}, "body.message.data"),
        ("localizations 201", "POST", "/v1/campaigns",
         {**CAMPAIGN, "message": {**message, "localizations": {lang: {"title": "t"} for lang in languages}}},
         "body.message.localizations"),
        ("variants 11", "POST", "/v1/campaigns",
         {**CAMPAIGN, "variants": [{"name": f"v{i}", "message": message} for i in range(11)]}, "body.variants"),
        ("stored item over 400 KB", "POST", "/v1/campaigns",
         {**CAMPAIGN, "message": {**message, "localizations": locales}}, "body.message.localizations"),
    ]  # fmt: skip


ENVELOPES: list[tuple[str, bytes, dict[str, str], int, str]] = [
    ("not UTF-8", b"\xff\xfe", {}, 400, "body"),
    ("UTF-16", json.dumps(IOS).encode("utf-16"), {}, 400, "body"),
    ("UTF-16 without BOM", json.dumps(IOS).encode("utf-16-le"), {}, 400, "body"),
    ("invalid JSON", b'{"platform": ', {}, 400, "body"),
    ("10,000 deep", _deep(10_000), {}, 400, "body"),
    ("40 deep", _deep(40), {}, 400, "body"),
    ("a JSON array", b"[]", {}, 400, "body"),
    ("a JSON string", b'"ios"', {}, 400, "body"),
    ("empty", b"", {}, 400, "body"),
    ("whitespace", b"  \n", {}, 400, "body"),
    ("multipart without boundary", b"--x\r\n", {"content-type": "multipart/form-data"}, 415, "content-type"),
    (
        "form encoded",
        b"platform=ios",
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "content-type",
    ),
    ("oversized", b'{"a":"' + b"x" * MAX_BODY_BYTES + b'"}', {}, 413, "body"),
]


@pytest.mark.parametrize(
    ("case", "body", "headers", "status", "field"), ENVELOPES, ids=[e[0] for e in ENVELOPES]
)
def test_bodies_that_are_not_a_json_object_answer_4xx(
    shop: AppKeys, case: str, body: bytes, headers: dict[str, str], status: int, field: str
) -> None:
    r = send(shop.client, shop.client.key, "PUT", "/v1/devices/envelope", body, **headers)
    assert r.status_code == status, (case, r.text)
    assert r.json()["errors"][0]["field"] == field, r.text


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "field"),
    _number_bodies() + _size_bodies(),
    ids=[c[0] for c in _number_bodies() + _size_bodies()],
)
def test_numbers_and_sizes_storage_cannot_hold_answer_400_naming_the_field(
    shop: AppKeys, case: str, method: str, path: str, body: Any, field: str
) -> None:
    api = shop.client if path.startswith(("/v1/devices", "/v1/events")) else shop.server
    if path == "/v1/events":
        assert shop.client.put("/v1/devices/num", IOS).status_code in (200, 201)
    r = api.request(method, path, body)
    assert r.status_code == 400, (case, r.text)
    fields = [e["field"] for e in r.json()["errors"]]
    assert field in fields, (case, r.json())


@pytest.mark.parametrize(
    ("case", "method", "path", "body", "field"),
    _raw_number_bodies(),
    ids=[c[0] for c in _raw_number_bodies()],
)
def test_numbers_json_cannot_carry_answer_400(
    shop: AppKeys, case: str, method: str, path: str, body: bytes, field: str
) -> None:
    key = shop.client.key if path.startswith("/v1/devices") else shop.server.key
    proof = shop.client.trust.headers(method, path, None) if shop.client.trust else {}  # the device's secret
    r = send(shop.client, key, method, path, body, **proof)
    assert r.status_code == 400, (case, r.text)
    assert field in [e["field"] for e in r.json()["errors"]], r.text


def test_an_oversized_campaign_names_what_to_shorten(shop: AppKeys) -> None:
    (_, _, _, body, _) = _size_bodies()[-1]
    r = shop.server.post("/v1/campaigns", body)
    assert r.status_code == 400, r.text
    assert r.json()["errors"] == [{"field": "body.message.localizations", "reason": r.json()["message"]}]
    assert "409600-byte item limit; shorten body.message.localizations (4" in r.text


def test_device_reads_show_the_endpoint_but_never_the_subscription_keys(
    shop: AppKeys, standins: Standins
) -> None:
    subscription = standins.webpush.new_subscription()
    put = shop.client.put("/v1/devices/keys-hidden", {**WEB, "subscription": subscription})
    assert put.status_code in (200, 201), put.text
    for r in (put, shop.client.get("/v1/devices/keys-hidden"), shop.server.get("/v1/devices/keys-hidden")):
        assert r.json()["subscription"] == {"endpoint": subscription["endpoint"]}
        assert subscription["keys"]["auth"] not in r.text and subscription["keys"]["p256dh"] not in r.text


@pytest.mark.parametrize("device_id", [".", ".."])
def test_dot_segments_are_not_device_ids(shop: AppKeys, device_id: str) -> None:
    encoded = device_id.replace(".", "%2E")
    for method, body in (("PUT", IOS), ("GET", None), ("DELETE", None)):
        r = shop.client.http.request(method, f"/v1/devices/{encoded}", json=body,
                                     headers={"authorization": f"Bearer {shop.client.key}"})  # fmt: skip
        assert r.status_code == 400, (method, r.text)
        assert r.json()["errors"][0]["field"] == "path.device_id", r.text
    r = shop.client.post("/v1/events", {"device_id": device_id, "name": "opened"})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body.device_id", r.text


def test_every_answer_seen_so_far_was_checked_against_the_openapi_document() -> None:
    """conftest's Api checks each answer against the document as it arrives (a miss fails that test);
    this proves the check ran over the answers this module provokes."""
    statuses = {status for _, _, status in ANSWERS.seen}
    assert {200, 201, 400, 401, 403, 413, 415} <= statuses, sorted(ANSWERS.seen)
    assert ("PUT", "/v1/devices/{device_id}", 201) in ANSWERS.seen
