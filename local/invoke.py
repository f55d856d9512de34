"""`make invoke FUNCTION=<logical id> EVENT=events/<file>.json`: one function run once with a sample
event on the local stack, its result printed: the Docker-free twin of `sam local invoke <id> -e <file>`.

The stack starts with the provider stand-ins and a sample world (an app with credentials, a device of
user cust-4411, a campaign, a template, a small JSONL in the data bucket), and the event's placeholders
are filled from it: `<app id>`, `<campaign id>`, `<wave id>`, `<wave at>`, `<template id>`,
`<data bucket>`, and `<server or client key>` becomes the key the route takes (admin, server or client).
Dates are relative to the run: `<now>` (an ISO 8601 UTC instant) and `<date two days ahead>` (the UTC date
two days on, whose 09:00 is still ahead in every zone of the world).
FUNCTION may be left out: the file name's prefix names it (campaigns_… → CampaignsFunction).
Exits 1 when the function failed: an exception, an HTTP answer ≥ 400, or SQS batch item failures.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import pkgutil
import secrets
import sys
import traceback
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from local.demo.scenario import setup_app
from local.standins.apns import ApnsStandIn
from local.standins.fcm import FcmStandIn
from local.standins.webpush import WebPushStandIn
from samlocal import LocalRuntime

ROOT = Path(__file__).resolve().parents[1]
PREFIXES = {
    "api_docs_": "ApiDocsFunction", "campaigns_": "CampaignsFunction", "devices_": "DevicesFunction",
    "events_": "EventsFunction", "segment_query_": "SegmentQueryFunction", "sender_": "SenderFunction",
    "jobs_": "JobsFunction", "console_": "ConsoleFunction",
}  # fmt: skip
SAMPLE_IMPORT_KEY = "samples/devices.jsonl"


def function_for(event_file: str | Path) -> str:
    name = Path(event_file).name
    for prefix, logical_id in PREFIXES.items():
        if name.startswith(prefix):
            return logical_id
    raise SystemExit(f"invoke: name the function (FUNCTION=...): {name} has no known prefix")


def route_kinds() -> dict[str, tuple[str, ...]]:
    """The kinds of key each declared route takes, from every router in pushengine.routes."""
    import pushengine.routes

    kinds: dict[str, tuple[str, ...]] = {}
    for module in pkgutil.iter_modules(pushengine.routes.__path__):
        router = getattr(importlib.import_module(f"pushengine.routes.{module.name}"), "router", None)
        kinds |= {route: tuple(access.kinds) for route, access in getattr(router, "access", {}).items()}
    return kinds


@dataclass
class World:
    """What the sample events refer to."""

    admin_key: str
    app_id: str
    server_key: str
    client_key: str
    campaign_id: str
    wave_id: str
    wave_at: str
    template_id: str
    data_bucket: str
    date_ahead: str  # two days after today's UTC date: 09:00 there is still ahead in every zone

    @classmethod
    def make(cls, stack: LocalRuntime, admin_key: str, apns: ApnsStandIn, fcm: FcmStandIn) -> World:
        http = httpx.Client(base_url=stack.api_url, timeout=30)
        server, client, app_id, _ = setup_app(http, admin_key, apns, fcm)
        device = json.loads(json.loads((ROOT / "events/devices_put_device.json").read_text())["body"])
        client.call("PUT", "/v1/devices/ios-maya-1", {**device, "token": apns.new_token()})
        date = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()  # UTC+14 reaches its 09:00 at 19:00Z
        campaign = server.call("POST", "/v1/campaigns", {
            "name": "sample", "message": {"title": "Hi {{ attributes.first_name }}", "body": "b"},
            "schedule": {"type": "local_time", "date": date, "time": "09:00"}})  # fmt: skip
        wave = next(w for w in campaign["waves"] if "America/New_York" in w["time_zones"])
        template = server.call(
            "POST", "/v1/templates", {"name": "sample", "message": {"title": "t", "body": "b"}}
        )
        bucket = stack.bucket_name("DataBucket")
        line = {"device_id": "imported-1", "platform": "android", "token": "tok" * 20, "timezone": "UTC"}
        stack.boto3_client("s3").put_object(
            Bucket=bucket, Key=SAMPLE_IMPORT_KEY, Body=json.dumps(line) + "\n"
        )
        return cls(admin_key, app_id, server.key, client.key, campaign["campaign_id"], wave["wave_id"],
                   wave["send_at"].replace("Z", "+00:00"), template["template_id"], bucket, date)  # fmt: skip

    def fill(self, text: str) -> Any:
        """The event with its placeholders filled (the key by the route the event names)."""
        values = {
            "<app id>": self.app_id,
            "<campaign id>": self.campaign_id,
            "<wave id>": self.wave_id,
            "<wave at>": self.wave_at,
            "<template id>": self.template_id,
            "<data bucket>": self.data_bucket,
            "<date two days ahead>": self.date_ahead,
            "<now>": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for placeholder, value in values.items():
            text = text.replace(placeholder, value)
        event = json.loads(text)
        if isinstance(event, dict) and "routeKey" in event:
            kinds = route_kinds().get(event["routeKey"], ("server",)) or ("server",)
            key = {"admin": self.admin_key, "server": self.server_key, "client": self.client_key}[kinds[0]]
            event.setdefault("headers", {})["authorization"] = f"Bearer {key}"
        return event


def failed(result: Any) -> bool:
    if not isinstance(result, dict):
        return False
    return int(result.get("statusCode", 200)) >= 400 or bool(result.get("batchItemFailures"))


def invoke(stack: LocalRuntime, world: World, function: str, event_file: str | Path) -> tuple[Any, bool]:
    """Run one function with one event file; (its result, whether it failed)."""
    event = world.fill(Path(event_file).read_text())
    result = stack.invoke(function, event)
    return result, failed(result)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        raise SystemExit("usage: python -m local.invoke EVENT [FUNCTION]")
    event_file, function = args[0], (args[1] if len(args) > 1 and args[1] else function_for(args[0]))
    admin_key = secrets.token_urlsafe(24)
    with ExitStack() as stack_of:
        web = stack_of.enter_context(WebPushStandIn())
        apns = stack_of.enter_context(ApnsStandIn())
        fcm = stack_of.enter_context(FcmStandIn())
        stack = stack_of.enter_context(LocalRuntime(ROOT / "template.yaml", parameters={
            "AdminKeyHash": hashlib.sha256(admin_key.encode()).hexdigest(),
            "WebPushAllowedHosts": web.base_url.split("//", 1)[1],
            "ApnsEndpoint": apns.base_url, "FcmEndpoint": fcm.base_url,
        }, background=False))  # fmt: skip
        world = World.make(stack, admin_key, apns, fcm)
        try:
            result, bad = invoke(stack, world, function, event_file)
        except Exception:
            traceback.print_exc()
            return 1
        print(json.dumps(result, indent=2, default=str))
        return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
