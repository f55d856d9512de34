"""Time to deliver a wave of 1 M, 10 M and 100 M devices, from the bench's measured per-stage figures and
AWS's published limits, naming the limit that binds.

Measured (reports/bench_wave.json, `python -m bench.wave`): CPU per device read by the segment query and per
notification sent by the sender (handlers plus their boto3 calls), DynamoDB read and write units per
notification. Published limits (cited beside each constant), and the few assumptions, printed with the table.

The model steps time in 0.25 s: audience tasks read at (segment functions running) / (seconds per cursor's
device), senders send at (sender functions running) / (seconds per notification), each capped by the
provider quota (its campaign lane), by DynamoDB's table throughput and by what has been read so far;
functions running follow the SQS event source's ramp (or start full with provisioned pollers).

python -m bench.scale [--wave reports/bench_wave.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.cost import SEGMENT_MEMORY_MB, SENDER_MEMORY_MB, vcpu_share
from pushengine import pacing, readplan
from pushengine.config import Settings

ROOT = Path(__file__).resolve().parent.parent

# --- AWS's published limits ---
# Standard SQS event source: 5 concurrent batches at first, up to 300 more a minute, at most 1,000
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
SQS_ESM_START, SQS_ESM_RAMP_PER_MINUTE, SQS_ESM_MAX = 5, 300, 1000
# Account concurrency: 1,000 by default, raised on request
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html); at least 100 stay unreserved.
ACCOUNT_CONCURRENCY = 1000
# DynamoDB on-demand: a new table serves up to 12,000 RRU / 4,000 WRU a second at once, and twice its previous
# peak; "warm throughput" pre-warms a table or index to a chosen rate
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html,
#  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html); the default
# per-table quota is 40,000 RRU and 40,000 WRU a second
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
DYNAMO_NEW_RRU, DYNAMO_NEW_WRU, DYNAMO_TABLE_MAX = 12_000, 4_000, 40_000
# FCM: 600,000 messages a minute per project by default
# (https://firebase.google.com/docs/cloud-messaging/throttling-and-quotas).
FCM_DEFAULT_PER_MINUTE = pacing.DEFAULT_PER_MINUTE["fcm"] or 600_000

# --- assumptions (printed) ---
HOP_SECONDS = 0.25  # one SQS hop: send, poll, invoke (wave -> zone plan -> slices -> cursor -> batch)
COLD_START_SECONDS = 1.0  # first invocations of a wave
PAGE_WAIT_SECONDS = 0.03  # per audience page: Query round trip + SendMessageBatch + ledger write
DAY_LARGEST_WAVE = 0.25  # across a day: the largest local-time wave holds this share of the audience


@dataclass(frozen=True)
class Figures:
    """Measured per-stage costs."""

    segment_cpu_per_device: float  # seconds of CPU
    sender_cpu_per_notification: float
    rru_per_notification: float
    wru_per_notification: float

    @classmethod
    def load(cls, path: Path) -> Figures:
        wave = json.loads(path.read_text())
        pm = wave["per_million"]
        cpu = pm["lambda_cpu_seconds"]
        return cls(
            segment_cpu_per_device=cpu.get("SegmentQueryFunction", 0.0) / 1e6,
            sender_cpu_per_notification=cpu.get("SenderFunction", 0.0) / 1e6,
            rru_per_notification=pm["dynamodb_rru"] / 1e6,
            wru_per_notification=pm["dynamodb_wru"] / 1e6,
        )


@dataclass(frozen=True)
class Scenario:
    name: str
    fcm_per_minute: float
    sender_concurrency: int
    segment_concurrency: int
    provisioned_pollers: bool  # event pollers kept warm: functions start at full concurrency
    dynamo_rru: float
    dynamo_wru: float


SCENARIOS = [
    Scenario("default quota, standard pollers", FCM_DEFAULT_PER_MINUTE, 800, 100, False, DYNAMO_NEW_RRU,
             DYNAMO_NEW_WRU),
    Scenario("raised FCM quota, standard pollers", 20_000_000, 700, 300, False, DYNAMO_TABLE_MAX, DYNAMO_TABLE_MAX),
    Scenario("raised FCM quota, provisioned pollers, warm tables", 20_000_000, 700, 300, True, DYNAMO_TABLE_MAX,
             DYNAMO_TABLE_MAX),
]  # fmt: skip


def running(limit: int, t: float, provisioned: bool) -> float:
    """Functions an SQS event source runs `t` seconds into a wave."""
    if provisioned:
        return float(limit)
    return float(min(limit, SQS_ESM_MAX, SQS_ESM_START + SQS_ESM_RAMP_PER_MINUTE * t / 60))


def deliver(n: int, figures: Figures, scenario: Scenario, settings: Settings) -> dict[str, Any]:
    """Seconds until the last of `n` devices in one zone is sent, and which limit bound most of that time."""
    cursors = readplan.cursors_for(n, settings.audience_page_size, settings.audience_pages_per_task)
    per_device = figures.segment_cpu_per_device / vcpu_share(SEGMENT_MEMORY_MB) + PAGE_WAIT_SECONDS / (
        settings.audience_page_size
    )
    per_notification = figures.sender_cpu_per_notification / vcpu_share(SENDER_MEMORY_MB)
    lane = pacing.lane_for("fcm:p", scenario.fcm_per_minute, transactional=False)
    quota_rate = lane.per_second if lane else math.inf
    depth = 1 + math.ceil(math.log(max(cursors, 1), readplan.FAN_OUT)) if cursors > 1 else 1
    start = COLD_START_SECONDS + HOP_SECONDS * (2 + depth)  # wave, zone plan, slices, then each batch's hop
    t, read, sent, dt = start, 0.0, 0.0, 0.25
    bound: dict[str, float] = {}
    while sent < n and t < 86_400:
        segments = min(running(scenario.segment_concurrency, t, scenario.provisioned_pollers), cursors)
        read_rate = min(segments / per_device, scenario.dynamo_rru / max(figures.rru_per_notification, 1e-9))
        read = min(n, read + read_rate * dt)
        senders = running(scenario.sender_concurrency, t, scenario.provisioned_pollers)
        limits = {
            "sender concurrency (SQS event source ramp)" if not scenario.provisioned_pollers
            and senders < scenario.sender_concurrency else "sender concurrency": senders / per_notification,
            "FCM quota (campaign lane)": quota_rate,
            "DynamoDB write throughput": scenario.dynamo_wru / max(figures.wru_per_notification, 1e-9),
            "audience reads (segment concurrency)": (read - sent) / dt + read_rate,
        }  # fmt: skip
        name, rate = min(limits.items(), key=lambda kv: kv[1])
        bound[name] = bound.get(name, 0.0) + dt
        sent = min(read, sent + rate * dt)
        t += dt
    binding = max(bound, key=lambda k: bound[k]) if bound else "none"
    return {"devices": n, "seconds": t + HOP_SECONDS, "binding": binding, "cursors": cursors,
            "pages_per_cursor": math.ceil(n / cursors / settings.audience_page_size)}  # fmt: skip


def model(figures: Figures, settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for scenario in SCENARIOS:
        for n in (1_000_000, 10_000_000, 100_000_000):
            one_zone = deliver(n, figures, scenario, settings)
            day = deliver(int(n * DAY_LARGEST_WAVE), figures, scenario, settings)
            rows.append({"scenario": scenario.name, "sender_concurrency": scenario.sender_concurrency,
                         "segment_concurrency": scenario.segment_concurrency, "one_zone": one_zone,
                         "largest_wave_of_a_day": day})  # fmt: skip
    return rows


ASSUMPTIONS = [
    f"one SQS hop (send, poll, invoke) {HOP_SECONDS}s; cold start {COLD_START_SECONDS}s; "
    f"{PAGE_WAIT_SECONDS * 1000:.0f} ms of waits per audience page",
    "a function's CPU-bound time is its measured CPU / its share of a vCPU (memory / 1,769 MB); the sender's "
    "provider round trips overlap (200 in flight), so they add no time per notification",
    f"across a day: the largest local-time wave holds {DAY_LARGEST_WAVE:.0%} of the audience; others are smaller",
    "DynamoDB units per notification are the whole run's (reads and writes of every stage), so the table "
    "limits are applied to all of them",
]


def fmt(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def print_model(rows: list[dict[str, Any]], figures: Figures) -> None:
    print("\nScale model: time to deliver one wave (bench/scale.py)")
    print(f"measured: segment {figures.segment_cpu_per_device * 1e6:.0f} µs CPU per device, sender "
          f"{figures.sender_cpu_per_notification * 1e6:.0f} µs CPU per notification, "
          f"{figures.rru_per_notification:.3f} RRU and {figures.wru_per_notification:.3f} WRU per notification")  # fmt: skip
    for row in rows:
        z, d = row["one_zone"], row["largest_wave_of_a_day"]
        print(f"  {row['scenario']:52} {z['devices'] / 1e6:>5.0f} M  one zone {fmt(z['seconds']):>9} "
              f"({z['binding']}; {z['cursors']} cursors x <= {z['pages_per_cursor']} pages)   "
              f"across a day {fmt(d['seconds']):>9} ({d['binding']})")  # fmt: skip
    print("  functions: sender + segment concurrency (reserved) within the account's 1,000 (default)")
    for line in ASSUMPTIONS:
        print(f"  - {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wave", type=Path, default=ROOT / "reports" / "bench_wave.json")
    args = parser.parse_args(argv)
    if not args.wave.exists():
        print(f"{args.wave} is missing: run python -m bench.wave first", file=sys.stderr)
        return 1
    figures = Figures.load(args.wave)
    rows = model(figures, Settings())
    print_model(rows, figures)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
