"""`python -m local.demo`: the stand-ins and the stack started, the scenario played, the cross-checks run and
the report written; exits 1 when a cross-check disagrees (see the package docstring)."""

from __future__ import annotations

import argparse
import hashlib
import random
import secrets
import sys
import time
import warnings
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

import httpx

import local.demo
from local.demo import report, scenario
from local.demo.checks import ObservedFcm, cross_check, engagement_checks, observe
from local.demo.report import Outcome, examples, summary_tables
from local.demo.scenario import (
    ROOT,
    Api,
    Device,
    make_audience,
    plant_faults,
    post_events,
    read_back,
    run_pool,
    setup_app,
    wave_of,
)
from local.standins.apns import ApnsStandIn
from local.standins.webpush import WebPushStandIn
from samlocal import Clock, LocalRuntime

DESCRIPTION = (local.demo.__doc__ or "").split("\n\n")[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.demo", description=DESCRIPTION)
    parser.add_argument("--devices", type=int, default=3000, help="audience size (default 3000)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds each provider stand-in waits")
    parser.add_argument("--seed", type=int, default=2026, help="random seed for the audience")
    parser.add_argument("--report", type=Path, default=ROOT / "reports" / "demo.html")
    args = parser.parse_args(argv)
    if args.devices < 60:
        parser.error("--devices: at least 60, so every platform has targeted and untargeted devices")
    started = time.monotonic()
    rng = random.Random(args.seed)
    admin_key = "demo-admin-" + secrets.token_urlsafe(24)
    with ExitStack() as stack_of:
        web = stack_of.enter_context(WebPushStandIn(args.latency))
        apns = stack_of.enter_context(ApnsStandIn(args.latency))
        fcm = ObservedFcm(args.latency)
        stack_of.enter_context(fcm)
        stack = stack_of.enter_context(LocalRuntime(
            ROOT / "template.yaml",
            parameters={
                "AdminKeyHash": hashlib.sha256(admin_key.encode()).hexdigest(),
                "ShardCount": "4", "SendBatchSize": "250",
                "WebPushAllowedHosts": web.base_url.split("//", 1)[1],
                "ApnsEndpoint": apns.base_url, "FcmEndpoint": fcm.base_url,
            },
            env={"POWERTOOLS_LOG_LEVEL": "WARNING"},  # the handlers' INFO lines would bury the demo's
            clock=Clock(datetime.now(UTC).replace(microsecond=0)),
            visibility_timeout=1,
            background=False,
            strict=True,  # AWS's limits enforced, as on a real account
        ))  # fmt: skip
        http = stack_of.enter_context(httpx.Client(base_url=stack.api_url, timeout=60,
                                                   limits=httpx.Limits(max_connections=32)))  # fmt: skip
        print(f"stack up in {time.monotonic() - started:.1f}s: API {stack.api_url}, AWS {stack.aws_url}")
        print(f"stand-ins: Web Push {web.base_url}, APNs {apns.base_url} (h2c), FCM {fcm.base_url}"
              f"{f', latency {args.latency}s' if args.latency else ''}")  # fmt: skip
        server, client, app_id, vapid_key = setup_app(http, admin_key, apns, fcm)
        print(f"app {app_id}: APNs key, FCM service account and VAPID keys set through the API")
        devices = make_audience(args.devices, rng, web, apns, fcm, vapid_key)
        register_s = run_pool("registering devices", devices,
                              lambda d: client.call("PUT", f"/v1/devices/{d.device_id}", d.body))  # fmt: skip
        plant_faults(devices, rng, web, apns, fcm)
        outcome = play(rng, stack, server, client, devices, web, apns, fcm, register_s, started)
    report.publish(outcome, args.report)
    print(f"total {time.monotonic() - started:.1f}s")
    failed = [c for c in outcome.checks if not c.ok]
    if failed:
        print(
            f"demo: {len(failed)} cross-check(s) disagree: " + "; ".join(c.name for c in failed),
            file=sys.stderr,
        )
        return 1
    return 0


def play(rng: random.Random, stack: LocalRuntime, server: Api, client: Api, devices: list[Device],
         web: WebPushStandIn, apns: ApnsStandIn, fcm: ObservedFcm, register_s: float,
         started: float) -> Outcome:  # fmt: skip
    """Launch the campaign, play the day, post engagement, then cross-check and tabulate."""
    friday, campaign_id, waves = scenario.launch(server, stack.clock.now().date())
    zone_wave = wave_of(waves)
    by_address = {(d.platform, d.address): d for d in devices}

    def delivered_so_far() -> Counter[str]:
        return Counter(d.device.platform for d in observe(campaign_id, by_address, web, apns, fcm).deliveries)

    steps, play_s = scenario.play_day(stack, waves, delivered_so_far)
    seen = observe(campaign_id, by_address, web, apns, fcm)
    recipients = sorted({d.device.device_id for d in seen.deliveries})
    engaged, posted = post_events(rng, client, campaign_id, recipients)
    campaign = server.call("GET", f"/v1/campaigns/{campaign_id}")
    readback = read_back(client, [d for d in devices if d.fault == "stale"])
    checks = cross_check(campaign, devices, seen, waves, friday, readback)
    checks += engagement_checks(campaign["stats"], engaged, posted)
    tables = summary_tables(campaign, devices, seen, waves, zone_wave, engaged, posted)
    facts = [
        ("devices registered", f"{len(devices):,} in {register_s:.1f}s"),
        ("time zones", str(len({d.zone for d in devices}))),
        ("waves", str(len(waves))),
        ("campaign", f"{campaign['name']} · {campaign['status']}"),
        ("sent", f"{campaign['stats'].get('sent', 0):,}"),
        ("day played in", f"{play_s:.1f}s"),
        ("total run", f"{time.monotonic() - started:.1f}s"),
    ]
    return Outcome(steps, checks, tables, examples(seen), facts)


if __name__ == "__main__":
    # Powertools warns on every invocation that publishes no metrics; it says nothing about the demo.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    sys.exit(main())
