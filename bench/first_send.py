"""The first send of a wave: from the wave firing to the first notification the FCM stand-in accepts, on the
local stack, each hop timed.

The real template and handlers on the embedded AWS, with background pollers (each SQS event source polled
in its own thread, as Lambda polls each queue beside the others), the FCM stand-in in its own process. One
zone of `devices` Android devices (written in bulk, as bench/wave.py does); one campaign sent now. Every
function invocation is timed where the runtime makes it, so the chain reads off as hops:

  wave fired (the segment query takes the wave) -> zone plan (audience queue) -> [slices] -> cursor task
  (audience queue) -> its first page read and first batch queued -> sender (send queue) -> the provider.

Times are wall clock (time.time()) in this process and the stand-in's, on one machine.

python -m bench.first_send [--devices 20000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench import emulator
from bench.cost import SEGMENT_MEMORY_MB, vcpu_share
from bench.scale import COLD_START_SECONDS, HOP_SECONDS
from bench.standins import ROOT, StandIns, cores
from bench.wave import ADMIN_KEY, fcm_app, write_devices
from pushengine import readplan
from pushengine.config import Settings

AUDIENCE_FUNCTION, SENDER_FUNCTION = "SegmentQueryFunction", "SenderFunction"
GOAL_SECONDS = 3.0  # on AWS, the first send at most this long after the wave fires (README: First send)

# --- the AWS model's assumptions (README: First send; the hop and cold start are bench/scale.py's) ---
# One DynamoDB call from a function in its Region: the service's "single-digit millisecond" latency
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Introduction.html) plus the round trip.
DYNAMO_CALL_SECONDS = 0.01
# DynamoDB calls each step makes before it hands on (read off segment.py and sending.py): the wave reads its
# campaign and the zone registry and marks the wave fired; a zone plan reads the zone's size, fixes its plan
# and counts its children; a slice counts its children; a task reads its campaign, the app's settings and
# its first page; a sender reads the campaign, the batch's checkpoint, erasures and the app's credentials.
CALLS = {"wave": 3, "zone": 3, "slice": 1, "task": 3, "sender": 4}
# The sender's first push: an OAuth access token (one round trip to the provider's token endpoint), a TLS
# connection to the provider and the request itself. An assumption: providers publish no latency.
PROVIDER_FIRST_PUSH_SECONDS = 0.3


def progress(text: str) -> None:
    print(f"· {text}", file=sys.stderr, flush=True)


@dataclass
class Timeline:
    """Invocations as the runtime made them: (function, started, ended, what the records were)."""

    invocations: list[tuple[str, float, float, list[dict[str, Any]]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, function: Any) -> None:
        invoke, name = function.invoke, function.spec.logical_id

        def timed(event: Any, invoked_arn: str | None = None) -> Any:
            started = time.time()
            try:
                return invoke(event, invoked_arn)
            finally:
                bodies = (
                    [json.loads(r["body"]) for r in event.get("Records", [])]
                    if isinstance(event, dict)
                    else []
                )
                with self.lock:
                    self.invocations.append((name, started, time.time(), bodies))

        function.invoke = timed

    def first(
        self, function: str, kind: str | None = None
    ) -> tuple[float, float, list[dict[str, Any]]] | None:
        """The first invocation of `function` whose records include one of `kind` (any, for None)."""
        with self.lock:
            found = sorted(
                (start, end, bodies)
                for name, start, end, bodies in self.invocations
                if name == function and (kind is None or any(b.get("kind", "wave") == kind for b in bodies))
            )
        return found[0] if found else None


def hops(timeline: Timeline, posted: float, first_accepted: float) -> dict[str, Any]:
    """Each hop's seconds, from the campaign's POST to the first notification the stand-in accepted."""
    wave = timeline.first(AUDIENCE_FUNCTION, "wave")
    zone = timeline.first(AUDIENCE_FUNCTION, "zone")
    task = timeline.first(AUDIENCE_FUNCTION, "task")
    sender = timeline.first(SENDER_FUNCTION)
    assert wave and zone and task and sender, "the chain did not run through"
    slices = timeline.first(AUDIENCE_FUNCTION, "slice")
    first_queued = min(float(b["queued_at"]) for b in sender[2])
    chain = [
        ("campaign posted -> wave fired (the API queues the wave; a scheduled wave is invoked instead)",
         posted, wave[0]),
        ("wave fired -> zone plan starts (audience queue)", wave[0], zone[0]),
        *([("zone plan -> slice starts (audience queue)", zone[0], slices[0])] if slices else []),
        ("-> first cursor task starts (audience queue)", (slices or zone)[0], task[0]),
        ("cursor task -> first send batch queued (its first page read)", task[0], first_queued),
        ("batch queued -> sender starts (send queue)", first_queued, sender[0]),
        ("sender starts -> first notification at the provider", sender[0], first_accepted),
    ]  # fmt: skip
    return {
        "hops": [{"hop": name, "seconds": max(0.0, end - start)} for name, start, end in chain],
        "audience_queue_hops": 3 if slices else 2,
        "send_queue_hops": 1,
        "wave_to_first_send_seconds": first_accepted - wave[0],
        "post_to_first_send_seconds": first_accepted - posted,
        "task_seconds": task[1] - task[0],  # the invocation that read the first pages, to its end
    }


def run(devices: int, latency: float) -> dict[str, Any]:
    from samlocal import LocalRuntime

    _, standin_cores = cores()
    timeline = Timeline()
    with StandIns(latency, standin_cores) as standins:
        fcm = standins.start("fcm")
        parameters = {
            "AdminKeyHash": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            "FcmEndpoint": fcm.base_url,
        }
        with LocalRuntime(ROOT / "template.yaml", parameters=parameters, background=True) as stack:
            emulator.install()
            api = httpx.Client(base_url=stack.api_url, timeout=60)
            app, server = fcm_app(api, fcm.base_url, "first send")
            write_devices(stack, app["app_id"], devices)
            for function in stack.functions:
                timeline.wrap(function)
            body = {"name": "first send", "quiet_hours": "ignore",
                    "message": {"title": "Your picks are ready", "body": "Three new arrivals."}}  # fmt: skip
            posted = time.time()
            r = api.post("/v1/campaigns", json=body, headers=server)
            r.raise_for_status()
            campaign_id = r.json()["campaign_id"]
            first_accepted = None
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                stats = fcm.stats()
                first_accepted = first_accepted or stats.get("first_accepted_at")
                campaign = api.get(f"/v1/campaigns/{campaign_id}", headers=server).json()
                if first_accepted and campaign["status"] == "completed":
                    break
                time.sleep(0.05)
            done = time.time()
    if first_accepted is None or campaign["status"] != "completed":
        raise RuntimeError(
            f"the campaign did not complete: {campaign['status']}, first send {first_accepted}"
        )
    result = hops(timeline, posted, float(first_accepted))
    return {"devices": devices, "latency_s": latency, **result, "all_sent_seconds": done - posted,
            "sent": campaign["stats"].get("sent", 0), "goal_on_aws_seconds": GOAL_SECONDS}  # fmt: skip


def slice_levels(cursors: int) -> int:
    """Slice hops between a zone plan and its cursor tasks (readplan.fan: each message queues <= FAN_OUT)."""
    levels, width = 0, cursors
    while width > readplan.FAN_OUT:
        width = -(-width // readplan.FAN_OUT)
        levels += 1
    return levels


def model(devices: int, page_cpu_seconds: float, settings: Settings, cold_starts: int = 0) -> dict[str, Any]:
    """Seconds from a wave firing on AWS (its function invoked) to its first push, hop by hop.
    `page_cpu_seconds`: the measured CPU of one audience page on a full core (bench/segment.py)."""
    cursors = readplan.cursors_for(devices, settings.audience_page_size, settings.audience_pages_per_task)
    levels = slice_levels(cursors)
    chain = [
        ("wave: campaign, zones, mark fired", CALLS["wave"] * DYNAMO_CALL_SECONDS),
        ("audience queue hop -> zone plan", HOP_SECONDS),
        ("zone plan: size, plan, count", CALLS["zone"] * DYNAMO_CALL_SECONDS),
        *[(f"audience queue hop -> slice (level {i + 1})", HOP_SECONDS + CALLS["slice"] * DYNAMO_CALL_SECONDS)
          for i in range(levels)],
        ("audience queue hop -> cursor task", HOP_SECONDS),
        ("task: campaign, settings, first page read", CALLS["task"] * DYNAMO_CALL_SECONDS),
        (f"first page's CPU at {SEGMENT_MEMORY_MB} MB", page_cpu_seconds / vcpu_share(SEGMENT_MEMORY_MB)),
        ("send queue hop -> sender (batch queued after page 1)", HOP_SECONDS),
        ("sender: campaign, checkpoint, erasures, credentials", CALLS["sender"] * DYNAMO_CALL_SECONDS),
        ("first push: token, connection, request", PROVIDER_FIRST_PUSH_SECONDS),
        *([(f"cold starts x {cold_starts}", cold_starts * COLD_START_SECONDS)] if cold_starts else []),
    ]  # fmt: skip
    total = sum(seconds for _, seconds in chain)
    # before: a task queued its batches after reading all its pages (each a Query and its CPU)
    pages = min(settings.audience_pages_per_task, -(-devices // cursors // settings.audience_page_size))
    page = DYNAMO_CALL_SECONDS + page_cpu_seconds / vcpu_share(SEGMENT_MEMORY_MB)
    return {"devices": devices, "cursors": cursors, "slice_levels": levels, "cold_starts": cold_starts,
            "hops": [{"hop": name, "seconds": seconds} for name, seconds in chain], "seconds": total,
            "met": total <= GOAL_SECONDS, "all_pages_first_seconds": total + (pages - 1) * page}  # fmt: skip


def models(page_cpu_seconds: float, settings: Settings) -> list[dict[str, Any]]:
    return [model(n, page_cpu_seconds, settings, cold) for n in (1_000_000, 10_000_000) for cold in (0, 1, 2)]


def print_model(rows: list[dict[str, Any]]) -> None:
    print(f"\nFirst send on AWS, modelled (goal <= {GOAL_SECONDS:.0f} s after the wave fires; one SQS hop "
          f"{HOP_SECONDS} s, a cold start {COLD_START_SECONDS} s, a DynamoDB call {DYNAMO_CALL_SECONDS * 1000:.0f} ms, "
          f"the first push {PROVIDER_FIRST_PUSH_SECONDS} s)")  # fmt: skip
    for row in rows:
        print(f"  {row['devices']:>10,} devices in one zone ({row['cursors']:,} cursors, {row['slice_levels']} slice "
              f"level(s)), {row['cold_starts']} cold start(s): {row['seconds']:.2f} s "
              f"{'MET' if row['met'] else 'MISS'}; {row['all_pages_first_seconds']:.2f} s if batches waited "
              f"for all the task's pages ({row['all_pages_first_seconds'] / row['seconds']:.2f}x)")  # fmt: skip


def print_first_send(measured: dict[str, Any]) -> None:
    print(f"\nFirst send on the local stack: {measured['devices']:,} devices in one zone, background pollers, "
          f"{measured['latency_s'] * 1000:.0f} ms stand-in latency")  # fmt: skip
    for hop in measured["hops"]:
        print(f"  {hop['hop']:92} {hop['seconds'] * 1000:8,.0f} ms")
    print(
        f"  {'wave fired -> first notification':92} {measured['wave_to_first_send_seconds'] * 1000:8,.0f} ms "
        f"({measured['audience_queue_hops']} audience-queue hops + {measured['send_queue_hops']} send-queue hop)"
    )
    print(f"  the first cursor task's invocation ran {measured['task_seconds']:.2f} s; all {measured['sent']:,} "
          f"sent {measured['all_sent_seconds']:.1f} s after the POST")  # fmt: skip
    print(
        f"  (no peer: the goal on AWS is <= {measured['goal_on_aws_seconds']:.0f} s, modelled in README: First send)"
    )


def page_cpu() -> float:
    """One audience page's CPU (bench/segment.py), on Web Push subscriptions shaped as browsers make them."""
    from bench.segment import measure_page

    subscription = {"endpoint": "https://push.example.com/send/" + "x" * 140,
                    "keys": {"p256dh": "B" + "x" * 86, "auth": "a" * 22}}  # fmt: skip
    settings = Settings()
    return measure_page([subscription], settings.audience_page_size, settings.send_batch_size)[
        "cpu_seconds_per_page"
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=20_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench_first_send.json")
    parser.add_argument(
        "--no-model", action="store_true", help="the local measurement only (bench.run models it)"
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    measured = run(args.devices, args.latency)
    print_first_send(measured)
    if not args.no_model:
        measured["aws_model"] = models(page_cpu(), Settings())
        print_model(measured["aws_model"])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(measured, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
