"""Shared fixtures: the local stack on the real template, the three provider stand-ins, an API client."""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, settings

# One Hypothesis profile for every property test: the same examples on every run (CI runs on a cold,
# shared 2-core machine), no per-example deadline and no health check that depends on the machine's
# speed (the first draw pays for cold caches). HYPOTHESIS_PROFILE=explore draws new examples locally.
settings.register_profile(
    "ci", derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile("explore", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "test-admin-key-" + "x" * 32
APPLE_WEB_PUSH_HOST = "web.push.apple.com"  # Safari's push service, played by the Web Push stand-in


@dataclass
class Standins:
    webpush: Any
    apns: Any
    fcm: Any
    webhook: Any = None  # the journey webhook receiver (local.standins.webhook)


@pytest.fixture(scope="session")
def standins() -> Iterator[Standins]:
    from local.standins.apns import ApnsStandIn
    from local.standins.fcm import FcmStandIn
    from local.standins.webhook import WebhookStandIn
    from local.standins.webpush import WebPushStandIn

    with WebPushStandIn() as web, ApnsStandIn() as apns, FcmStandIn() as fcm, WebhookStandIn() as hooks:
        yield Standins(web, apns, fcm, hooks)


@pytest.fixture(scope="module")
def stack(session_stack: Any) -> Any:
    """The template on the embedded AWS in strict mode, AWS's limits enforced: one stack for the session,
    emptied for each module (a fresh deployment, on real time), so no module depends on another's data or
    clock, or pays for what earlier ones stored.

    Injected faults are off unless STRICT_AWS_FAULTS says otherwise ("transaction_conflict=0.2,...");
    a test turns them on for itself with the `aws_faults` fixture.
    """
    session_stack.reset()
    return session_stack


@pytest.fixture(scope="session")
def session_stack(standins: Standins) -> Iterator[Any]:
    from samlocal import LocalRuntime
    from samlocal.strict import parse_faults

    web_host = standins.webpush.base_url.split("//", 1)[1]
    with LocalRuntime(
        ROOT / "template.yaml",
        parameters={
            "AdminKeyHash": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            "ShardCount": "4",
            "SendBatchSize": "50",
            # the one outbound allow-list: push services (the stand-in, and Apple's push service, which the
            # stand-in also plays: WEBPUSH_CONNECT_TO) and journey webhooks alike
            "WebPushAllowedHosts": ",".join([web_host, "*.push.apple.com", *standins.webhook.allowed_hosts]),
            "ApnsEndpoint": standins.apns.base_url,
            "FcmEndpoint": standins.fcm.base_url,
            "EventExport": "s3",  # the export's local emulation: JSON-lines objects in the embedded S3
        },
        visibility_timeout=1,
        env={
            "REDELIVERY_BACKOFF_SECONDS": "0.2",  # failed sends come back in about a second
            "APPS_CACHE_SECONDS": "2",  # an app's item is cached 2 s (the date index job waits 3 s)
            "WEBPUSH_CONNECT_TO": f"{APPLE_WEB_PUSH_HOST}={web_host}",
        },
        background=False,
        strict=True,
        faults=parse_faults(os.environ.get("STRICT_AWS_FAULTS")),
        fault_seed=int(os.environ.get("STRICT_AWS_SEED", "0")),
    ) as local:
        forget_process_caches()  # what a test before the stack cached (another environment's) is not its
        yield local


def forget_process_caches() -> None:
    """Drop what the engine's composition root made (settings and adapters): in Lambda each function is a
    process of its own; here a tier that ran earlier in this pytest process (its own environment) may have
    filled it. (AWS clients are kept per endpoint and region, so another environment's are never reused.)"""
    from pushengine import bootstrap

    bootstrap.reset()


class DocumentedAnswers:
    """Every answer the e2e tier sees through Api must be one the OpenAPI document lists for its operation,
    and every error body must be the documented {message, errors}."""

    def __init__(self) -> None:
        self._operations: dict[str, list[tuple[re.Pattern[str], str, str, dict[str, Any]]]] = {}
        self.seen: set[tuple[str, str, int]] = set()  # (method, path template, status)

    def operations(self, base_url: str) -> list[tuple[re.Pattern[str], str, str, dict[str, Any]]]:
        if base_url not in self._operations:
            document = httpx.get(f"{base_url}/v1/openapi.json", timeout=30).json()
            self._operations[base_url] = [
                (
                    re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(path)) + "$"),
                    method.upper(),
                    path,
                    op,
                )
                for path, methods in document["paths"].items()
                for method, op in methods.items()
            ]
        return self._operations[base_url]

    def check(self, response: httpx.Response) -> None:
        request = response.request
        base = f"{request.url.scheme}://{request.url.netloc.decode()}"
        for pattern, method, path, operation in self.operations(base):
            if method != request.method or not pattern.match(request.url.path):
                continue
            status = response.status_code
            assert str(status) in operation["responses"], (
                f"{method} {path} answered {status}; its OpenAPI operation lists {sorted(operation['responses'])}"
            )
            if status >= 400:
                response.read()
                body = response.json()
                assert set(body) == {"message", "errors"}, (method, path, body)
                assert all(set(e) == {"field", "reason"} for e in body["errors"]), (method, path, body)
            self.seen.add((method, path, status))
            return


ANSWERS = DocumentedAnswers()


@pytest.fixture
def aws_faults(stack: Any) -> Iterator[Any]:
    """The stack's fault rates (`samlocal.strict.Faults`), put back as they were after the test.

    aws_faults.update(transaction_conflict=0.2, throttle=0.05); ...; aws_faults.injected()
    """
    before = stack.faults.rates
    yield stack.faults
    stack.faults.set(before)


_DEVICE_PATH = re.compile(r"^/v1/devices/(?!import$|export$)([^/?]+)$")


@dataclass
class ClientTrust:
    """What an app's client holds besides its key, as the SDKs keep it: each device's secret (learnt from
    the registration that issued it) and, from the app's backend, a token for the user it names."""

    identity_secret: str | None = None
    device_secrets: dict[str, str] = field(default_factory=dict)
    # the app's backend handing a device it imported its secret (a server-key reset), on the client's first
    # read or event of a device whose secret it does not hold; None: never
    issue: Callable[[str], str | None] | None = None

    def headers(self, method: str, path: str, body: Any) -> dict[str, str]:
        from pushengine.identity import mint

        device_id, user_id = None, None
        found = _DEVICE_PATH.match(path.split("?")[0])
        if found:
            device_id = found.group(1)
            user_id = body.get("user_id") if method == "PUT" and isinstance(body, dict) else None
        elif path.startswith("/v1/events") and isinstance(body, dict):
            events = body.get("events") if path.startswith("/v1/events/batch") else [body]
            named = [e for e in events or [] if isinstance(e, dict)]
            device_id = next((e["device_id"] for e in named if isinstance(e.get("device_id"), str)), None)
            user_id = next((e["user_id"] for e in named if isinstance(e.get("user_id"), str)), None)
        headers = {}
        if device_id and device_id not in self.device_secrets and self.issue and not (found and method == "PUT"):
            issued = self.issue(device_id)
            if issued:
                self.device_secrets[device_id] = issued
        if device_id and device_id in self.device_secrets:
            headers["x-device-secret"] = self.device_secrets[device_id]
        if isinstance(user_id, str) and self.identity_secret:
            headers["x-user-token"] = mint(self.identity_secret, user_id)
        return headers

    def learn(self, method: str, path: str, response: httpx.Response) -> None:
        found = _DEVICE_PATH.match(path.split("?")[0])
        if not found:
            return
        if method == "PUT" and response.status_code in (200, 201) and response.json().get("device_secret"):
            self.device_secrets[found.group(1)] = response.json()["device_secret"]
        elif method == "DELETE" and response.status_code == 204:
            self.device_secrets.pop(found.group(1), None)


class Api:
    """A small client for the HTTP API with a bearer key; every answer is checked against the OpenAPI document.
    With `trust` (an app's client), it sends the device secret and user token each request needs."""

    def __init__(self, base_url: str, key: str | None = None, trust: ClientTrust | None = None) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, event_hooks={"response": [ANSWERS.check]})
        self.key = key
        self.trust = trust

    def as_key(self, key: str | None) -> Api:
        """The same API with another key, and none of this client's secrets."""
        return Api(str(self.http.base_url), key)

    def request(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = {"authorization": f"Bearer {self.key}"} if self.key else {}
        if self.trust is not None:
            headers |= self.trust.headers(method.upper(), path, body)
        headers |= kw.pop("headers", None) or {}
        response = self.http.request(method, path, json=body, headers=headers, **kw)
        if self.trust is not None:
            self.trust.learn(method.upper(), path, response)
        return response

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)


@dataclass
class AppKeys:
    app_id: str
    server: Api
    client: Api
    vapid_public_key: str | None = None


def apns_key() -> tuple[str, str]:
    from local.standins.apns import new_signing_key

    return new_signing_key()


def new_app(api: Api, standins: Standins, name: str = "shop", *, providers: bool = True) -> AppKeys:
    """Create an app through the API and, by default, give it credentials for all three stand-ins."""
    created = api.as_key(ADMIN_KEY).post("/v1/apps", {"name": name})
    assert created.status_code == 201, created.text
    body = created.json()
    server = api.as_key(body["server_key"])

    def issue(device_id: str) -> str | None:
        r = server.post(f"/v1/devices/{device_id}/secret")
        return str(r.json()["device_secret"]) if r.status_code == 200 else None

    client = Api(str(api.http.base_url), body["client_key"], ClientTrust(body["identity_secret"], issue=issue))
    keys = AppKeys(body["app_id"], server, client)
    if providers:
        private, public = apns_key()
        team, key_id, bundle = "TEAM123456", "KEY1234567", f"com.example.{name}"
        standins.apns.register_key(team, key_id, public)
        standins.apns.allow_topic(bundle)
        r = keys.server.put(f"/v1/apps/{keys.app_id}/providers/apns", {
            "team_id": team, "key_id": key_id, "private_key": private, "bundle_id": bundle,
            "environment": "sandbox"})  # fmt: skip
        assert r.status_code == 200, r.text
        r = keys.server.put(
            f"/v1/apps/{keys.app_id}/providers/fcm",
            {"service_account": standins.fcm.new_service_account("demo-project")},
        )
        assert r.status_code == 200, r.text
        r = keys.server.put(
            f"/v1/apps/{keys.app_id}/providers/webpush", {"subject": "mailto:ops@example.com"}
        )
        assert r.status_code == 200, r.text
        keys.vapid_public_key = r.json()["public_key"]
    return keys


CONSOLE_PASSWORD = "Console-Passw0rd"


def console_user(stack: Any, app_id: str, role: str, name: str, password: str = CONSOLE_PASSWORD) -> Api:
    """A console user of this app in this role (made in the stack's Cognito pool), signed in through the API:
    an Api whose bearer is the user's ID token."""
    from pushengine.dal.console_pool import ConsolePool

    env = stack.function_env["DevicesFunction"]
    ConsolePool(env["CONSOLE_USER_POOL_ID"], env["CONSOLE_CLIENT_ID"]).create_user(name, password, role, app_id)
    answer = Api(stack.api_url).post("/v1/console/session", {"username": name, "password": password})
    assert answer.status_code == 200, answer.text
    assert (answer.json()["role"], answer.json()["app_id"]) == (role, app_id)
    return Api(stack.api_url, answer.json()["id_token"])


def import_devices(stack: Any, app: AppKeys, devices: dict[str, dict[str, Any]]) -> None:
    """Register many devices at once through the bulk import (one inline JSON-lines job), as a backend
    migrating its devices would: test setup in seconds where a PUT per device takes minutes."""
    lines = "".join(
        json.dumps({"device_id": device_id, **body}) + "\n" for device_id, body in devices.items()
    )
    r = app.server.http.post("/v1/devices/import", content=lines.encode(), headers={
        "authorization": f"Bearer {app.server.key}", "content-type": "application/x-ndjson"})  # fmt: skip
    assert r.status_code == 202, r.text
    stack.drain(timeout=300)
    job = app.server.get(f"/v1/devices/import/{r.json()['import_id']}").json()
    assert (job["status"], job["done"], job["failed"]) == ("completed", len(devices), 0), job


def dynamodb(stack: Any) -> Any:
    """A boto3 DynamoDB resource on the stack's embedded AWS."""
    import boto3

    return boto3.resource("dynamodb", endpoint_url=stack.aws_url, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def ahead_everywhere(days: int = 2) -> date:
    """A date `days` after today's UTC date: its 09:00 (any wall time) is still ahead in every zone of the world,
    at any instant, for days >= 2 (UTC+14 reaches a date's 09:00 at 19:00Z the day before)."""
    assert days >= 2
    return (datetime.now(UTC) + timedelta(days=days)).date()


def quiet_hours_around(zone: str = "UTC", *, before: timedelta = timedelta(hours=1),
                       after: timedelta = timedelta(hours=2)) -> dict[str, str]:  # fmt: skip
    """Quiet hours that began `before` ago and end `after` from now, in `zone`: a device there is asleep now,
    at any instant (the window runs over midnight when now is near it)."""
    local_now = datetime.now(UTC).astimezone(ZoneInfo(zone))
    return {"start": (local_now - before).strftime("%H:%M"), "end": (local_now + after).strftime("%H:%M")}


@pytest.fixture
def api(stack: Any) -> Api:
    return Api(stack.api_url)
