"""One campaign to a big zone of Web Push devices through an external AWS endpoint, in strict mode.

A `moto_server` process stands for the store (no in-process shortcuts: its index queries sort the table as
moto does, so pages are slow), the local runtime sits in front of it in strict mode (AWS's limits, and each
invocation stopped at its function's Timeout), and the Web Push stand-in runs in its own process. Devices are
written straight into the endpoint (BatchWriteItem, shaped as DevicesRepository.put stores them); the
campaign is sent through the API and drained to completion. Exits 0 when the campaign completed exactly:
every device targeted once and sent once, the stand-in delivered as many, no invocation stopped at its
Timeout. Each function's longest invocation is printed beside its Timeout.

python -m bench.external_zone [--devices 40000] [--subscriptions 200]
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from typing import Any

import boto3
import httpx

from bench.first_send import Timeline
from bench.standins import ROOT, StandIns, cores
from pushengine.dal.devices import partition_key, range_key

ADMIN_KEY = "bench-admin-key-" + "x" * 32
ZONE = "Europe/Paris"


def progress(text: str) -> None:
    print(f"· {text}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen([str(ROOT / ".venv" / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/moto-api/", timeout=1)
            return server, url
        except httpx.HTTPError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("moto_server did not start")


def device_item(app_id: str, i: int, subscription: dict[str, Any]) -> dict[str, Any]:
    device_id = f"dev-{i:08d}"
    stamp = "2026-11-30T12:00:00+00:00"
    return {
        "pk": f"{app_id}#{device_id}", "app_id": app_id, "device_id": device_id,
        "aud": partition_key(app_id, ZONE), "ark": range_key(device_id), "status": "active",
        "created_at": stamp, "updated_at": stamp, "last_seen": stamp, "version": 1, "platform": "web",
        "subscription": subscription, "timezone": ZONE, "locale": "en-US", "country": "FR",
        "user_id": f"user-{i}", "opted_in": True, "tags": {"plan": "pro", "visits": i % 40},
        "attributes": {"first_name": "Ada"},
    }  # fmt: skip


def run(devices: int, subscriptions: int) -> dict[str, Any]:
    from samlocal import LocalRuntime

    _, standin_cores = cores()
    moto, upstream = start_moto()
    timeline = Timeline()
    try:
        with StandIns(0.02, standin_cores) as standins:
            web = standins.start("webpush")
            web_host = web.base_url.split("//", 1)[1]
            parameters = {"AdminKeyHash": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
                          "WebPushAllowedHosts": web_host}  # fmt: skip
            with LocalRuntime(ROOT / "template.yaml", parameters=parameters, strict=True, aws_endpoint_url=upstream,
                              background=False, visibility_timeout=2) as stack:  # fmt: skip
                for function in stack.functions:
                    timeline.wrap(function)
                api = httpx.Client(base_url=stack.api_url, timeout=120)
                r = api.post(
                    "/v1/apps", json={"name": "zone"}, headers={"authorization": f"Bearer {ADMIN_KEY}"}
                )
                r.raise_for_status()
                app = r.json()
                server = {"authorization": f"Bearer {app['server_key']}"}
                r = api.put(f"/v1/apps/{app['app_id']}/providers/webpush", json={"subject": "mailto:ops@example.com"},
                            headers=server)  # fmt: skip
                r.raise_for_status()
                vapid = r.json()["public_key"]
                subs = [httpx.post(f"{web.base_url}/_standin/subscriptions", json={"application_server_key": vapid},
                                   timeout=30).json() for _ in range(subscriptions)]  # fmt: skip
                progress(f"writing {devices:,} web devices into {upstream}")
                store = boto3.resource("dynamodb", endpoint_url=upstream, region_name="us-east-1",
                                       aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip
                table = store.Table(stack.table_name("DevicesTable"))
                with table.batch_writer() as writer:
                    for i in range(devices):
                        writer.put_item(Item=device_item(app["app_id"], i, subs[i % len(subs)]))
                store.Table(stack.table_name("ZonesTable")).put_item(
                    Item={"app_id": app["app_id"], "zone": ZONE, "first_seen": "2026-11-30T12:00:00+00:00",
                          "devices": devices})  # fmt: skip
                progress("sending one campaign")
                body = {"name": "zone", "quiet_hours": "ignore",
                        "message": {"title": "Hi {{ attributes.first_name }}", "body": "News"}}  # fmt: skip
                started = time.monotonic()
                r = api.post("/v1/campaigns", json=body, headers=server)
                r.raise_for_status()
                campaign_id = r.json()["campaign_id"]
                while True:
                    stack.drain(timeout=7200)
                    campaign = api.get(f"/v1/campaigns/{campaign_id}", headers=server).json()
                    if campaign["status"] == "completed":
                        break
                    time.sleep(0.5)
                wall = time.monotonic() - started
                delivered = int(web.stats()["delivered"])
                timeouts = stack.timeouts()
                budgets = {f.spec.logical_id: f.spec.timeout for f in stack.functions}
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    longest: dict[str, float] = defaultdict(float)
    for name, begun, ended, _ in timeline.invocations:
        longest[name] = max(longest[name], ended - begun)
    stats = campaign["stats"]
    exact = stats.get("targeted") == stats.get("sent") == delivered == devices and not timeouts
    budget = {k: {"seconds": v, "timeout": budgets[k]} for k, v in sorted(longest.items())}
    return {"devices": devices, "wall_seconds": wall, "stats": stats, "errors": campaign.get("errors", {}),
            "delivered": delivered, "timeouts": timeouts, "exact": exact, "longest_invocation": budget}  # fmt: skip


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=40_000)
    parser.add_argument("--subscriptions", type=int, default=200)
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the strict proxy's request lines
    for signum in (signal.SIGTERM, signal.SIGINT):  # unwind through the cleanup of the stack and moto
        signal.signal(signum, _stop)
    result = run(args.devices, args.subscriptions)
    print(f"\n{result['devices']:,} web devices in one zone through an external endpoint, strict mode: "
          f"{result['wall_seconds']:.0f} s; targeted {result['stats'].get('targeted', 0):,}, sent "
          f"{result['stats'].get('sent', 0):,}, failed {result['stats'].get('failed', 0):,}; "
          f"stand-in delivered {result['delivered']:,}; "
          f"stopped at their Timeout: {result['timeouts'] or 'none'}; exact: {result['exact']}")  # fmt: skip
    for name, row in result["longest_invocation"].items():
        print(f"  {name:28} longest invocation {row['seconds']:7.1f} s of its {row['timeout']} s Timeout")
    if result["errors"]:
        print(f"  errors: {result['errors']}")
    return 0 if result["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
