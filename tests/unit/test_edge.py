"""The API edge as pure logic: who may call a route, the body's envelope, and what the document says."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from pydantic import ValidationError

from pushengine.auth import Principal, hash_key, new_key
from pushengine.errors import (
    BodyTooLarge,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthorized,
    UnsupportedMediaType,
)
from pushengine.http import Access, Edge, json_object, make_resolver, openapi_document, route_key
from pushengine.limits import MAX_BODY_BYTES, MAX_JSON_DEPTH
from pushengine.models import CampaignIn, DeviceIn, EventIn
from pushengine.routes import campaigns, devices, events

pytestmark = pytest.mark.unit

ADMIN = "admin-secret"
SERVER_A, CLIENT_A = new_key("server", "app_a"), new_key("client", "app_a")
SERVER_B = new_key("server", "app_b")
APPS = {
    "app_a": {"server_key_hash": hash_key(SERVER_A), "client_key_hash": hash_key(CLIENT_A)},
    "app_b": {"server_key_hash": hash_key(SERVER_B)},
}
ROUTES = {
    "PUT /v1/apps/{app_id}/providers/{provider}": Access(("server",), "app_id", body=True),
    "GET /v1/devices/{device_id}": Access(("client", "server")),
    "GET /v1/openapi.json": Access(()),
}


class Apps:
    def __init__(self) -> None:
        self.reads = 0

    def get(self, app_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return APPS.get(app_id)


def event(
    route: str, key: str | None = None, body: bytes | str | None = b"{}", **extra: Any
) -> dict[str, Any]:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    headers.update(extra.pop("headers", {}))
    raw = body.encode() if isinstance(body, str) else body
    return {"routeKey": route, "headers": headers, "body": base64.b64encode(raw or b"").decode(),
            "isBase64Encoded": True, **extra}  # fmt: skip


def edge() -> Edge:
    return Edge(ROUTES, apps=Apps(), admin_key_hash=hash_key(ADMIN))  # type: ignore[arg-type]


PROVIDERS = "PUT /v1/apps/{app_id}/providers/{provider}"


@pytest.mark.parametrize(
    ("route", "key", "app", "error"),
    [
        (PROVIDERS, None, "app_a", Unauthorized),
        (PROVIDERS, "pes.app_a.wrong", "app_a", Unauthorized),
        (PROVIDERS, CLIENT_A, "app_a", Forbidden),  # wrong kind
        (PROVIDERS, ADMIN, "app_a", Forbidden),
        (PROVIDERS, SERVER_B, "app_a", Forbidden),  # another app's key
        (PROVIDERS, SERVER_A, None, Forbidden),  # no app in the path matches no key
        ("GET /v1/devices/{device_id}", ADMIN, None, Forbidden),
        ("POST /v1/undeclared", SERVER_A, None, NotFound),  # a route the code does not declare: closed
    ],
    # the keys are drawn afresh in each process: ids that name the case, so parallel workers collect alike
    ids=["no-key", "wrong-secret", "client-key", "admin-key", "other-app", "no-app", "admin-device", "undeclared"],
)
def test_who_may_not_call_is_refused_before_the_body_is_read(
    route: str, key: str | None, app: str | None, error: type[Exception]
) -> None:
    params = {"pathParameters": {"app_id": app}} if app else {}
    with pytest.raises(error):
        edge().admit(event(route, key, b"\xff\xfe not even UTF-8", **params))


def test_the_right_key_is_admitted_and_its_body_then_checked() -> None:
    params = {"pathParameters": {"app_id": "app_a", "provider": "fcm"}}
    assert edge().admit(event(PROVIDERS, SERVER_A, b'{"a": 1}', **params)) == Principal("server", "app_a")
    with pytest.raises(InvalidInput):
        edge().admit(event(PROVIDERS, SERVER_A, b"\xff\xfe", **params))
    assert edge().admit(event("GET /v1/devices/{device_id}", CLIENT_A, b"\xff")) == Principal(
        "client", "app_a"
    )
    public = edge()
    assert public.admit(event("GET /v1/openapi.json", None)) is None
    assert public.apps.reads == 0  # type: ignore[attr-defined]  # a public route reads no key


def _deep(levels: int) -> bytes:
    return b"[" * (levels - 1) + b"{}" + b"]" * (levels - 1)


@pytest.mark.parametrize(
    ("body", "headers", "error", "reason"),
    [
        (b"\xff\xfe", {}, InvalidInput, "not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), {}, InvalidInput, "not UTF-8"),
        (b"{nope", {}, InvalidInput, "not valid JSON"),
        (b'{"a": NaN}', {}, InvalidInput, "NaN is not JSON"),
        (b'{"a": -Infinity}', {}, InvalidInput, "-Infinity is not JSON"),
        (b'{"a": ' + b"9" * 5000 + b"}", {}, InvalidInput, "not valid JSON"),  # past Python's digit limit
        (_deep(10_000), {}, InvalidInput, "nested deeper"),
        (_deep(MAX_JSON_DEPTH + 1), {}, InvalidInput, "nested deeper"),
        (b"[]", {}, InvalidInput, "must be a JSON object"),
        (b"", {}, InvalidInput, "required"),
        (b"{}", {"content-type": "multipart/form-data"}, UnsupportedMediaType, "multipart/form-data"),
        (b"{}", {"content-type": "text/plain"}, UnsupportedMediaType, "text/plain"),
        (b"{" + b" " * MAX_BODY_BYTES + b"}", {}, BodyTooLarge, "at most"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_a_domain_error(
    body: bytes, headers: dict[str, str], error: type[Exception], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        json_object(event("X", body=body, headers=headers))


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b'{"a": [1, {"b": "\\u00e9"}]}', {}),
        (b'{"a": 1}', {"content-type": "application/json; charset=utf-8"}),
        (b'{"a":' * (MAX_JSON_DEPTH - 1) + b"{}" + b"}" * (MAX_JSON_DEPTH - 1), {}),  # just deep enough
    ],
)
def test_json_objects_pass(body: bytes, headers: dict[str, str]) -> None:
    assert isinstance(json_object(event("X", body=body, headers=headers)), dict)
    text = {"routeKey": "X", "headers": headers, "body": body.decode()}  # API Gateway's text form too
    assert isinstance(json_object(text), dict)


def test_route_keys_are_api_gateways() -> None:
    assert (
        route_key("put", "/v1/apps/<app_id>/providers/<provider>")
        == "PUT /v1/apps/{app_id}/providers/{provider}"
    )


def test_every_route_declares_keys_and_its_app_parameter() -> None:
    table = {**devices.router.access, **campaigns.router.access, **events.router.access}
    assert table["POST /v1/apps"] == Access(("admin",), None, body=True, audited=True)
    assert table["PUT /v1/apps/{app_id}/providers/{provider}"].operator  # not the marketer role's
    assert not table["POST /v1/events"].audited and not table["POST /v1/audience/count"].audited
    assert table["PUT /v1/apps/{app_id}/providers/{provider}"].app_param == "app_id"
    assert all(a.kinds for a in table.values())  # no public route among them


def test_the_document_lists_real_answers_and_422_only_where_an_idempotency_key_is_honoured() -> None:
    doc = openapi_document(
        make_resolver(devices.router, campaigns.router, events.router), title="t", version="1"
    )
    answers = {
        (method.upper(), path): set(map(int, op["responses"]))
        for path, methods in doc["paths"].items()
        for method, op in methods.items()
    }
    assert answers[("PUT", "/v1/devices/{device_id}")] == {200, 201, 400, 401, 403, 409, 413, 415, 503}
    assert answers[("DELETE", "/v1/devices/{device_id}")] == {204, 400, 401, 403, 404, 503}
    assert answers[("POST", "/v1/campaigns")] == {201, 400, 401, 403, 409, 413, 415, 422, 503}
    assert answers[("POST", "/v1/events")] == {202, 400, 401, 403, 404, 413, 415, 429, 503}
    idempotent = {("POST", "/v1/campaigns"), ("POST", "/v1/events/batch")}
    assert all(422 not in statuses for route, statuses in answers.items() if route not in idempotent)
    assert doc["paths"]["/v1/campaigns"]["post"]["responses"]["422"]["description"].startswith(
        "this Idempotency"
    )
    error = doc["paths"]["/v1/campaigns"]["post"]["responses"]["400"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorOut"}
    assert set(doc["components"]["schemas"]["ErrorOut"]["properties"]) == {"message", "errors"}
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert "content" not in doc["paths"]["/v1/devices/{device_id}"]["delete"]["responses"]["204"]


IOS = {"platform": "ios", "token": "ab" * 32}


@pytest.mark.parametrize(
    ("model", "body", "loc"),
    [
        (DeviceIn, {**IOS, "tags": {"n": 1e300}}, ("tags", "n")),
        (DeviceIn, {**IOS, "attributes": {"n": 10**40 + 1}}, ("attributes", "n")),
        (DeviceIn, {**IOS, "tags": {"n": float("inf")}}, ("tags", "n")),
        (EventIn, {"device_id": "d", "name": "buy", "value": 1e-300}, ("value",)),
        (CampaignIn, {"name": "c", "message": {"title": "t", "body": "b", "data": {"n": 1e-200}}}, ("message", "data", "n")),
        (CampaignIn, {"name": "c", "message": {"title": "t", "body": "b", "badge": 10**39 + 1}}, ("message", "badge")),
        (CampaignIn, {"name": "c", "message": {"title": "t", "body": "b"}, "holdout_percent": 1e-300}, ("holdout_percent",)),
    ],
)  # fmt: skip
def test_models_refuse_numbers_dynamodb_cannot_hold(
    model: Any, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    errors = caught.value.errors()
    assert any(tuple(str(p) for p in e["loc"] if not str(p).startswith("function-after"))[: len(loc)] == loc
               for e in errors), errors  # fmt: skip
    assert DeviceIn.model_validate({**IOS, "tags": {"n": 1e125, "m": 12345678901234567890123456789012345678}})


@pytest.mark.parametrize("device_id", [".", ".."])
def test_dot_segments_are_not_device_ids(device_id: str) -> None:
    with pytest.raises(ValidationError, match="path segments"):
        EventIn.model_validate({"device_id": device_id, "name": "opened"})
    assert EventIn.model_validate({"device_id": "...", "name": "opened"}).device_id == "..."


def test_a_contended_store_answers_503_with_retry_after() -> None:
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

    from pushengine.dal.aws import Contended

    router = APIGatewayHttpRouter()

    @router.get("/v1/busy")
    def busy() -> dict:
        raise Contended("write still contended after 6 attempts: TransactionConflict")

    app = make_resolver(router)
    event = {"version": "2.0", "routeKey": "GET /v1/busy", "rawPath": "/v1/busy", "rawQueryString": "",
             "headers": {}, "requestContext": {"http": {"method": "GET", "path": "/v1/busy"}, "stage": "$default"},
             "isBase64Encoded": False}  # fmt: skip
    out = app.resolve(event, None)
    assert out["statusCode"] == 503 and out["headers"]["Retry-After"] == "1"
    assert json.loads(out["body"]) == {"message": "busy, please retry", "errors": []}


class AuditLog:
    def __init__(self) -> None:
        self.entries: list[tuple[str | None, dict[str, Any]]] = []

    def put(self, app_id: str | None, entry: dict[str, Any], at: Any) -> None:
        self.entries.append((app_id, entry))


def test_the_edge_records_changes_by_keys_and_console_users_but_not_reads_nor_client_keys() -> None:
    log = AuditLog()
    routes = {**ROUTES, "POST /v1/campaigns": Access(("server",), body=True, audited=True)}
    edge = Edge(routes, apps=Apps(), admin_key_hash=hash_key(ADMIN), audit_log=log)  # type: ignore[arg-type]
    server = Principal("server", "app_a", key_id="key_0000000000000001")
    made = {"statusCode": 201, "body": json.dumps({"campaign_id": "cmp_1"})}
    edge.record({"routeKey": "POST /v1/campaigns"}, server, made)
    edge.record({"routeKey": "POST /v1/campaigns"}, Principal("client", "app_a"), made)
    edge.record({"routeKey": "GET /v1/devices/{device_id}"}, server, {"statusCode": 200})
    edge.record({"routeKey": "POST /v1/campaigns"}, None, {"statusCode": 401})
    mia = Principal("marketer", "app_a", user="mia", role="marketer")
    edge.record({"routeKey": "POST /v1/campaigns"}, mia, {"statusCode": 403, "body": "{}"})
    assert [(app, e["actor"], e["action"], e["target"], e["status"]) for app, e in log.entries] == [
        ("app_a", {"kind": "server", "key_id": "key_0000000000000001"}, "POST /v1/campaigns", "campaign_id:cmp_1", 201),
        ("app_a", {"kind": "console", "user": "mia", "role": "marketer"}, "POST /v1/campaigns", "", 403),
    ]
