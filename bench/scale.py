"""Time to deliver a wave of 1 M, 10 M and 100 M devices, from the bench's measured per-stage figures and
AWS's and the providers' published limits, naming the limit that binds at each size.

Measured (reports/bench_wave.json, `python -m bench.wave`): CPU per device read by the segment query and per
notification sent by the sender (handlers plus their boto3 calls, FCM), DynamoDB read and write units per
notification by table, and the audience index's read units per device. Each channel's own send path
(reports/bench.json, `make bench`: the engine sender's CPU per message on FCM, APNs and Web Push) moves the
sender's figure by its difference from FCM's. Published limits are cited beside each constant; the few
assumptions are printed with the table.

The model steps time in 0.25 s. Audience tasks read at (segment functions running) / (seconds per cursor's
device), capped by DynamoDB's table throughput and by the zone index's partitions. Senders send at
(sender functions running) x (their vCPU share) / (CPU per notification of the channels still to send),
capped by each provider's lane (FCM: its quota; APNs and Web Push publish no per-project quota, so their
only limit is the sender's CPU), by the table's write throughput, by the hottest items the send path
writes (one item is one partition: at most 1,000 WCU and 3,000 RCU a second) and by what has been read so
far. Functions running follow the SQS event source's ramp (or start at the provisioned pollers' floor).
Each step names the smallest of these limits; a row's binding limit is the one that held longest.

python -m bench.scale [--wave reports/bench_wave.json] [--bench reports/bench.json]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.cost import SEGMENT_MEMORY_MB, SENDER_MEMORY_MB, dynamo_wru, vcpu_share
from pushengine import pacing, readplan
from pushengine.config import Settings
from pushengine.dal import counters, devices

ROOT = Path(__file__).resolve().parent.parent

# --- AWS's published limits ---
# Standard SQS event source: 5 concurrent batches at first, up to 300 more a minute, at most 1,000
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html).
SQS_ESM_START, SQS_ESM_RAMP_PER_MINUTE, SQS_ESM_MAX = 5, 300, 1000
# Provisioned mode (ProvisionedPollerConfig): each event poller handles up to 1 MB/s and 10 concurrent invokes;
# it cannot be combined with MaximumConcurrency
# (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html, services-sqs-scaling.html), so
# the template fixes the pool (MinimumPollers = MaximumPollers) to stay under the reserved concurrency.
INVOKES_PER_POLLER, POLLER_BYTES_PER_SECOND = 10, 1_000_000
# Account concurrency: 1,000 by default, raised on request; reserved concurrency must leave 100 unreserved
# (https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
ACCOUNT_CONCURRENCY, UNRESERVED_MINIMUM = 1000, 100
# DynamoDB on-demand: a new table serves up to 12,000 RRU / 4,000 WRU a second at once, and twice its previous
# peak; "warm throughput" pre-warms a table or index to a chosen rate
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/on-demand-capacity-mode.html,
#  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput.html); the default
# per-table quota is 40,000 RRU and 40,000 WRU a second
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
DYNAMO_NEW_RRU, DYNAMO_NEW_WRU, DYNAMO_TABLE_MAX = 12_000, 4_000, 40_000
# One partition serves at most 1,000 write units and 3,000 read units a second, however warm the table: an
# item never spans partitions, so one item (or one partition key's items) is capped there
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html,
#  https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html).
PARTITION_WCU, PARTITION_RCU = 1_000, 3_000
# FCM: 600,000 messages a minute per project by default
# (https://firebase.google.com/docs/cloud-messaging/throttling-and-quotas); increases are reviewed requests.
FCM_DEFAULT_PER_MINUTE = pacing.DEFAULT_PER_MINUTE["fcm"] or 600_000

# --- the engine's own layout (read from the code where it lives) ---
# The audience index key `app#zone` is split into this many buckets per zone, so a zone's reads spread over
# as many partition keys (assumed: being built alongside, dal/devices.py; until it lands a zone is one key).
AUDIENCE_KEY_BUCKETS = 16
ITEM_WCU_IN_TRANSACTION = dynamo_wru(
    1024, transactional=True
)  # a counter or series item (≤ 1 KB) in a transaction
QUOTA_CLAIM_WCU = dynamo_wru(1024)  # one window counter ADD, outside the transaction

# --- assumptions (printed) ---
HOP_SECONDS = 0.25  # one SQS hop: send, poll, invoke (wave -> zone plan -> slices -> cursor -> batch)
COLD_START_SECONDS = 1.0  # first invocations of a wave
PAGE_WAIT_SECONDS = 0.03  # per audience page: Query round trip + SendMessageBatch + ledger write
DAY_LARGEST_WAVE = 0.25  # across a day: the largest local-time wave holds this share of the audience
STEP_SECONDS = 0.25

# Channels: the bench's channel key, its provider's quota key in pushengine.pacing, and its name.
CHANNELS = {"fcm": ("android", "FCM"), "apns": ("ios", "APNs"), "webpush": ("web", "Web Push")}
# The engine sender's CPU per message in README's latest `make bench` (2026-12-07), used when
# reports/bench.json is absent: FCM 116, APNs 381, Web Push 192 µs.
README_SEND_PATH_US = {"fcm": 116.0, "apns": 381.0, "webpush": 192.0}


@dataclass(frozen=True)
class Figures:
    """Measured per-stage costs."""

    segment_cpu_per_device: float  # seconds of CPU
    sender_cpu_per_notification: float  # FCM, the wave's channel, through the whole stack
    rru_per_notification: float
    wru_per_notification: float
    # the busiest table's units per notification (each table has its own throughput); default: all of them
    table_rru_per_notification: float | None = None
    table_wru_per_notification: float | None = None
    audience_rru_per_device: float | None = None  # the zone index Query's units per device read
    # each channel's send path CPU per message minus FCM's (seconds), and where it came from
    channel_cpu_delta: Mapping[str, float] = field(default_factory=dict)
    channel_source: str = ""
    sqs_bytes_per_notification: float = 0.0  # every queue's payload, sent and received

    def poller_bytes(self) -> float:
        """Bytes the send queue's pollers receive per notification: each payload is sent once and received
        once, so half of the measured SQS bytes (an upper bound: the audience queue's are in it too)."""
        return self.sqs_bytes_per_notification / 2

    @classmethod
    def load(cls, path: Path, bench: Path | None = None) -> Figures:
        wave = json.loads(path.read_text())
        pm = wave["per_million"]
        cpu = pm["lambda_cpu_seconds"]
        units: dict[str, float] = pm.get("units", {})
        by_table: dict[tuple[str, str], float] = {}
        for line, n in units.items():
            kind, table, _ = line.split(" ", 2)
            by_table[kind, table] = by_table.get((kind, table), 0.0) + n
        rru = [n for (kind, _), n in by_table.items() if kind == "RRU"]
        wru = [n for (kind, _), n in by_table.items() if kind == "WRU"]
        audience = sum(n for line, n in units.items() if line.startswith("RRU DevicesTable Query"))
        path_us, source = send_path_us(bench)
        return cls(
            segment_cpu_per_device=cpu.get("SegmentQueryFunction", 0.0) / 1e6,
            sender_cpu_per_notification=cpu.get("SenderFunction", 0.0) / 1e6,
            rru_per_notification=pm["dynamodb_rru"] / 1e6,
            wru_per_notification=pm["dynamodb_wru"] / 1e6,
            table_rru_per_notification=max(rru) / 1e6 if rru else None,
            table_wru_per_notification=max(wru) / 1e6 if wru else None,
            audience_rru_per_device=audience / 1e6 if audience else None,
            channel_cpu_delta={c: (us - path_us["fcm"]) / 1e6 for c, us in path_us.items()},
            channel_source=source,
            sqs_bytes_per_notification=pm.get("sqs_bytes", 0.0) / 1e6,
        )

    def sender_cpu(self, channel: str) -> float:
        """A channel's CPU per notification through the whole stack: the wave's (FCM) moved by the channel's
        send path's difference from FCM's."""
        return max(1e-6, self.sender_cpu_per_notification + self.channel_cpu_delta.get(channel, 0.0))

    def table_rru(self) -> float:
        return self.table_rru_per_notification or self.rru_per_notification

    def table_wru(self) -> float:
        return self.table_wru_per_notification or self.wru_per_notification

    def audience_rru(self) -> float:
        return self.audience_rru_per_device or self.rru_per_notification


def send_path_us(bench: Path | None) -> tuple[dict[str, float], str]:
    """Each channel's engine sender CPU per message: reports/bench.json's if it has the three, else README's."""
    if bench is not None and bench.exists():
        rows = json.loads(bench.read_text()).get("throughput", [])
        first: dict[str, float] = {}
        for row in rows:  # each channel's first row is the engine sender
            first.setdefault(row["channel"], float(row["cpu_us_per_message"]))
        got = {c: first[key] for c, (key, _) in CHANNELS.items() if first.get(key)}
        if len(got) == len(CHANNELS):
            return got, f"{bench.name} (make bench)"
    return dict(README_SEND_PATH_US), "README's make bench of 2026-12-07 (reports/bench.json absent)"


@dataclass(frozen=True)
class Scenario:
    name: str
    mix: Mapping[str, float]  # channel -> share of the audience
    quotas: Mapping[str, float]  # channel -> provider quota a minute (absent: no per-project quota)
    sender_concurrency: int
    segment_concurrency: int
    dynamo_rru: float
    dynamo_wru: float
    provisioned_pollers: int = 0  # minimum event pollers on the send queue's event source (0: standard)
    sender_memory_mb: int = SENDER_MEMORY_MB
    segment_memory_mb: int = SEGMENT_MEMORY_MB
    account_concurrency: int = ACCOUNT_CONCURRENCY

    def fits_account(self) -> bool:
        """Reserved sender + segment concurrency leaves the account's unreserved minimum."""
        reserved = self.sender_concurrency + self.segment_concurrency
        return reserved <= self.account_concurrency - UNRESERVED_MINIMUM


ALL_FCM = {"fcm": 1.0}
MIX = {"fcm": 0.4, "apns": 0.4, "webpush": 0.2}
DEFAULT_QUOTAS = {"fcm": float(FCM_DEFAULT_PER_MINUTE)}
# A default account: 1,000 concurrency, the template's reservations, new on-demand tables, standard pollers.
DEFAULT_ACCOUNT = Scenario(
    "default account", ALL_FCM, DEFAULT_QUOTAS, 800, 100, DYNAMO_NEW_RRU, DYNAMO_NEW_WRU
)
# Tables pre-warmed (warm throughput) to the default per-table quota: no quota increase asked for.
WARM = replace(DEFAULT_ACCOUNT, dynamo_rru=DYNAMO_TABLE_MAX, dynamo_wru=DYNAMO_TABLE_MAX)


def _fcm(per_minute: float) -> Scenario:
    return replace(WARM, name=f"FCM {per_minute / 1e6:g} M/min, warm tables", quotas={"fcm": per_minute})


SCENARIOS = [
    replace(DEFAULT_ACCOUNT, name="all FCM, default account"),
    replace(DEFAULT_ACCOUNT, name="all APNs, default account", mix={"apns": 1.0}),
    replace(DEFAULT_ACCOUNT, name="all Web Push, default account", mix={"webpush": 1.0}),
    replace(DEFAULT_ACCOUNT, name="40/40/20 FCM/APNs/Web Push, default account", mix=MIX),
    *(_fcm(q) for q in (600_000, 750_000, 1_000_000, 2_000_000)),
    replace(DEFAULT_ACCOUNT, name="no provider limit, default account", quotas={}),
    replace(WARM, name="no provider limit, warm tables", quotas={}),
    replace(
        WARM, name="no provider limit, warm tables, provisioned pollers", quotas={}, provisioned_pollers=80
    ),
]


def running(limit: int, t: float, provisioned_pollers: int = 0) -> float:
    """Functions an SQS event source runs `t` seconds into a wave: standard pollers ramp from 5; a provisioned
    pool (fixed in the template) runs 10 invokes a poller from the start."""
    if provisioned_pollers:
        return float(min(limit, INVOKES_PER_POLLER * provisioned_pollers))
    return float(min(limit, SQS_ESM_MAX, SQS_ESM_START + SQS_ESM_RAMP_PER_MINUTE * t / 60))


@dataclass(frozen=True)
class HotItem:
    """The hottest of a set of items one write (or read) spreads over: `units` per notification on it."""

    name: str
    capacity: float  # units a second one partition serves
    units: float  # on the hottest one, per notification of the channels it counts

    @property
    def ceiling(self) -> float:
        return self.capacity / self.units


def hot_items(figures: Figures, scenario: Scenario, settings: Settings) -> list[HotItem]:
    """The send path's busiest items, from the code's shard counts: each caps the wave's rate."""
    batch = settings.send_batch_size
    devices_per_cursor = (
        settings.audience_page_size * settings.audience_pages_per_task * readplan.PLANNING_MARGIN
    )
    items = [
        HotItem(f"campaign counter shard ({counters.SHARDS} shards, {ITEM_WCU_IN_TRANSACTION:g} WCU a batch)",
                PARTITION_WCU, ITEM_WCU_IN_TRANSACTION / batch / counters.SHARDS),
        HotItem(f"hourly analytics series shard ({counters.SHARDS} shards, {ITEM_WCU_IN_TRANSACTION:g} WCU a batch)",
                PARTITION_WCU, ITEM_WCU_IN_TRANSACTION / batch / counters.SHARDS),
        HotItem(f"zone count prune shard ({devices.PRUNE_SHARDS} shards, once a batch that prunes)",
                PARTITION_WCU, QUOTA_CLAIM_WCU / batch / devices.PRUNE_SHARDS),
        HotItem("campaign progress item (once per cursor task)", PARTITION_WCU,
                ITEM_WCU_IN_TRANSACTION / devices_per_cursor),
        HotItem(f"zone index partition key ({AUDIENCE_KEY_BUCKETS} buckets, 3,000 RCU each)", PARTITION_RCU,
                figures.audience_rru() / AUDIENCE_KEY_BUCKETS),
    ]  # fmt: skip
    for channel, share in scenario.mix.items():
        quota = scenario.quotas.get(channel)
        lane = pacing.lane_for(f"{channel}:p", quota, transactional=False) if quota else None
        if lane and share:  # each claim tries up to MAX_CLAIMS windows; a window is split over lane.shards
            name = CHANNELS[channel][1]
            items.append(HotItem(f"{name} quota window shard ({lane.shards} shards)", PARTITION_WCU,
                                 share * QUOTA_CLAIM_WCU * pacing.MAX_CLAIMS / batch / lane.shards))  # fmt: skip
    return items


def sender_limit_name(
    scenario: Scenario, figures: Figures, remaining: Mapping[str, float], ramping: bool
) -> str:
    if ramping:
        return "sender concurrency (SQS event source ramp)"
    heaviest = max(remaining, key=lambda c: remaining[c] * figures.sender_cpu(c))
    return (f"sender concurrency ({scenario.sender_concurrency} at {scenario.sender_memory_mb} MB; "
            f"{CHANNELS[heaviest][1]} {figures.sender_cpu(heaviest) * 1e6:.0f} µs CPU a notification)")  # fmt: skip


def steady_limits(figures: Figures, scenario: Scenario, settings: Settings) -> dict[str, float]:
    """Every limit on the wave's rate (notifications a second) once all functions run, for the scenario's
    whole mix: the engine's ceiling is the smallest."""
    mix = {c: s for c, s in scenario.mix.items() if s}
    per_device = _per_device(figures, scenario, settings)
    mean_cpu = sum(s * figures.sender_cpu(c) for c, s in mix.items())
    limits = {
        sender_limit_name(scenario, figures, mix, False):
            scenario.sender_concurrency * vcpu_share(scenario.sender_memory_mb) / mean_cpu,
        f"segment concurrency ({scenario.segment_concurrency} at {scenario.segment_memory_mb} MB)":
            scenario.segment_concurrency / per_device,
        f"DynamoDB table reads ({scenario.dynamo_rru:,.0f} RRU/s)": scenario.dynamo_rru / figures.table_rru(),
        f"DynamoDB table writes ({scenario.dynamo_wru:,.0f} WRU/s)": scenario.dynamo_wru / figures.table_wru(),
        **{f"hot item: {item.name}": item.ceiling for item in hot_items(figures, scenario, settings)},
    }  # fmt: skip
    limits.update(_poller_limit(figures, scenario))
    for channel, share in mix.items():
        lane = _lane(scenario, channel)
        if lane:
            limits[_lane_name(scenario, channel)] = lane.per_second / share
    return limits


def _poller_limit(figures: Figures, scenario: Scenario) -> dict[str, float]:
    """A provisioned pool's throughput: 1 MB/s a poller of the send queue's payload."""
    if not scenario.provisioned_pollers or not figures.poller_bytes():
        return {}
    name = f"provisioned pollers' throughput ({scenario.provisioned_pollers} x 1 MB/s)"
    return {name: scenario.provisioned_pollers * POLLER_BYTES_PER_SECOND / figures.poller_bytes()}


def _lane(scenario: Scenario, channel: str) -> pacing.Lane | None:
    quota = scenario.quotas.get(channel)
    return pacing.lane_for(f"{channel}:p", quota, transactional=False) if quota else None


def _lane_name(scenario: Scenario, channel: str) -> str:
    return f"{CHANNELS[channel][1]} quota (campaign lane of {scenario.quotas[channel] / 1e3:,.0f}k/min)"


def _per_device(figures: Figures, scenario: Scenario, settings: Settings) -> float:
    return figures.segment_cpu_per_device / vcpu_share(scenario.segment_memory_mb) + (
        PAGE_WAIT_SECONDS / settings.audience_page_size
    )


def ceiling(figures: Figures, scenario: Scenario, settings: Settings) -> tuple[str, float]:
    """The smallest steady limit: the scenario's sustained rate and what sets it."""
    name, rate = min(steady_limits(figures, scenario, settings).items(), key=lambda kv: kv[1])
    return name, rate


def deliver(n: int, figures: Figures, scenario: Scenario, settings: Settings) -> dict[str, Any]:
    """Seconds until the last of `n` devices in one zone is sent, and which limit bound most of that time."""
    cursors = readplan.cursors_for(n, settings.audience_page_size, settings.audience_pages_per_task)
    per_device = _per_device(figures, scenario, settings)
    share = vcpu_share(scenario.sender_memory_mb)
    depth = 1 + math.ceil(math.log(max(cursors, 1), readplan.FAN_OUT)) if cursors > 1 else 1
    start = COLD_START_SECONDS + HOP_SECONDS * (2 + depth)  # wave, zone plan, slices, then each batch's hop
    items = hot_items(figures, scenario, settings)
    index = next(i for i in items if i.capacity == PARTITION_RCU)
    writes = [i for i in items if i.capacity == PARTITION_WCU]
    remaining = {c: n * s for c, s in scenario.mix.items() if s}
    t, read, sent, dt = start, 0.0, 0.0, STEP_SECONDS
    bound: dict[str, float] = {}
    while sent < n - 1e-6 and t < 86_400:
        segments = min(running(scenario.segment_concurrency, t, scenario.provisioned_pollers), cursors)
        read_limits = {
            f"segment concurrency ({scenario.segment_concurrency} at {scenario.segment_memory_mb} MB)":
                segments / per_device,
            f"DynamoDB table reads ({scenario.dynamo_rru:,.0f} RRU/s)": scenario.dynamo_rru / figures.table_rru(),
            f"hot item: {index.name}": index.ceiling,
        }  # fmt: skip
        read_name, read_rate = min(read_limits.items(), key=lambda kv: kv[1])
        read = min(float(n), read + read_rate * dt)
        left = sum(remaining.values())
        shares = {c: r / left for c, r in remaining.items() if r > 0}
        senders = running(scenario.sender_concurrency, t, scenario.provisioned_pollers)
        mean_cpu = sum(s * figures.sender_cpu(c) for c, s in shares.items())
        ramping = senders < scenario.sender_concurrency
        limits = {
            sender_limit_name(scenario, figures, remaining, ramping): senders * share / mean_cpu,
            f"DynamoDB table writes ({scenario.dynamo_wru:,.0f} WRU/s)": scenario.dynamo_wru / figures.table_wru(),
            **{f"hot item: {item.name}": item.ceiling for item in writes},
            read_name: (read - sent) / dt,  # what the audience reads have made available
            **_poller_limit(figures, scenario),
        }  # fmt: skip
        for channel, s in shares.items():
            lane = _lane(scenario, channel)
            if lane:
                limits[_lane_name(scenario, channel)] = lane.per_second / s
        name, rate = min(limits.items(), key=lambda kv: kv[1])
        bound[name] = bound.get(name, 0.0) + dt
        step = min(read - sent, rate * dt)
        for c, s in shares.items():
            remaining[c] = max(0.0, remaining[c] - step * s)
        sent += step
        t += dt
    binding = max(bound, key=lambda k: bound[k]) if bound else "none"
    return {"devices": n, "seconds": t + HOP_SECONDS, "binding": binding, "cursors": cursors,
            "pages_per_cursor": math.ceil(n / cursors / settings.audience_page_size)}  # fmt: skip


def provider_floor(n: int, scenario: Scenario) -> float | None:
    """Seconds the providers' quotas alone need for `n` devices of the mix (None: no quota binds)."""
    floors = [n * s / (q / 60) for c, s in scenario.mix.items() if (q := scenario.quotas.get(c)) and s]
    return max(floors) if floors else None


SIZES = (1_000_000, 10_000_000, 100_000_000)
GOAL_RATE = 250_000  # the engine's own ceiling, goal (issue 28): 10 M in one zone in 40 s


def model(figures: Figures, settings: Settings) -> list[dict[str, Any]]:
    rows = []
    for scenario in SCENARIOS:
        name, rate = ceiling(figures, scenario, settings)
        rows.append({
            "scenario": scenario.name, "sender_concurrency": scenario.sender_concurrency,
            "segment_concurrency": scenario.segment_concurrency, "fits_default_account": scenario.fits_account(),
            "ceiling": {"rate": rate, "binding": name},
            "one_zone": [deliver(n, figures, scenario, settings) | {"provider_floor": provider_floor(n, scenario)}
                         for n in SIZES],
            "largest_wave_of_a_day": deliver(int(10_000_000 * DAY_LARGEST_WAVE), figures, scenario, settings),
        })  # fmt: skip
    return rows


def assumptions(figures: Figures) -> list[str]:
    return [
        f"one SQS hop (send, poll, invoke) {HOP_SECONDS}s; cold start {COLD_START_SECONDS}s; "
        f"{PAGE_WAIT_SECONDS * 1000:.0f} ms of waits per audience page",
        "a function's CPU-bound time is its measured CPU / its share of a vCPU (memory / 1,769 MB); the sender's "
        "provider round trips overlap (200 in flight), so they add no time per notification",
        f"sender CPU per channel: the wave's FCM figure moved by each channel's send path's difference from FCM's, "
        f"from {figures.channel_source}",
        f"across a day: the largest local-time wave holds {DAY_LARGEST_WAVE:.0%} of the audience (of 10 M here)",
        "table throughput is applied to the busiest table's units per notification (each table has its own)",
        f"the zone index key is split into {AUDIENCE_KEY_BUCKETS} buckets per zone (AUDIENCE_KEY_BUCKETS); "
        "DynamoDB's split-for-heat is adaptive and not counted on",
        "a mixed wave's channels are sent in proportion to what each has left; each provider's quota is its own lane",
        "the zone count prune shard is written by every batch (an upper bound: only batches that prune write it)",
    ]


def fmt(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 120 else f"{seconds / 60:,.1f} min"


def print_model(rows: list[dict[str, Any]], figures: Figures) -> None:
    print("\nScale model: time to deliver one wave in one zone (bench/scale.py)")
    print(f"measured: segment {figures.segment_cpu_per_device * 1e6:.0f} µs CPU per device, sender "
          f"{figures.sender_cpu_per_notification * 1e6:.0f} µs CPU per FCM notification (APNs "
          f"{figures.sender_cpu('apns') * 1e6:.0f}, Web Push {figures.sender_cpu('webpush') * 1e6:.0f}), "
          f"{figures.rru_per_notification:.3f} RRU and {figures.wru_per_notification:.3f} WRU per notification "
          f"(busiest table {figures.table_rru():.3f} RRU, {figures.table_wru():.3f} WRU; zone index "
          f"{figures.audience_rru():.3f} RRU per device)")  # fmt: skip
    print(
        f"hottest items at the goal of {GOAL_RATE:,} notifications/s (one partition: 1,000 WCU, 3,000 RCU):"
    )
    for item in hot_items(figures, replace(WARM, quotas={}), Settings()):
        unit = "RCU" if item.capacity == PARTITION_RCU else "WCU"
        print(f"  {item.name}: {item.units * GOAL_RATE:,.0f} {unit}/s (its ceiling {item.ceiling:,.0f}/s)")
    for row in rows:
        c = row["ceiling"]
        fits = "" if row["fits_default_account"] else "  [needs a raised account limit]"
        print(
            f"\n  {row['scenario']} ({row['sender_concurrency']} + {row['segment_concurrency']} functions){fits}"
        )
        print(f"    ceiling {c['rate']:,.0f}/s: {c['binding']}")
        for z in row["one_zone"]:
            floor = z["provider_floor"]
            vs = f", provider floor {fmt(floor)} ({z['seconds'] / floor - 1:+.0%})" if floor else ""
            print(f"    {z['devices'] / 1e6:>5.0f} M  {fmt(z['seconds']):>9}  {z['binding']}{vs}")
        d = row["largest_wave_of_a_day"]
        print(f"    largest wave of a day (2.5 M of 10 M): {fmt(d['seconds'])} ({d['binding']})")
    print(
        "\n  functions: sender + segment concurrency (reserved) within the account's 1,000 (default), 100 unreserved"
    )
    for line in assumptions(figures):
        print(f"  - {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wave", type=Path, default=ROOT / "reports" / "bench_wave.json")
    parser.add_argument("--bench", type=Path, default=ROOT / "reports" / "bench.json")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args(argv)
    if not args.wave.exists():
        print(f"{args.wave} is missing: run python -m bench.wave first", file=sys.stderr)
        return 1
    figures = Figures.load(args.wave, args.bench)
    rows = model(figures, Settings())
    print_model(rows, figures)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
