"""Our sender, measured: the real send_batch driving the real providers against the stand-ins."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.ports import DynamoMeter, MeteredCampaigns, MeteredDevices, campaign_item
from bench.setup import Fixture
from pushengine.config import Settings
from pushengine.delivery.sending import SenderDeps, concurrency_share, send_batch
from pushengine.limits import item_size
from tests.fakes import FakeProviders

APP_ID = "app_bench"
CAMPAIGN_ID = "cmp_bench000000000001"
TITLE = '{{ attributes.first_name | default: "there" }}, your picks are ready'
SPEC: dict[str, Any] = {
    "name": "bench",
    "message": {
        "title": TITLE,
        "body": "Three new arrivals we think you will like. Tap to see them before they are gone.",
        "url": "https://shop.example.com/picks?utm_campaign=weekly",
        "data": {"kind": "picks", "week": 47},
    },
    "ttl_seconds": 86400,
}
FIRST_NAMES = ("Ada", "Grace", "Linus", "Margaret", "", "Barbara", "Ken", "Dennis")


@dataclass
class Measurement:
    """One phase: how many, how long on the wall, how much CPU in the measuring process."""

    name: str
    notifications: int
    wall_seconds: float
    cpu_seconds: float
    outcomes: dict[str, int] = field(default_factory=dict)
    standin_busy: float = 0.0  # stand-in CPU / wall: near 1.0 means the stand-in was the bottleneck
    extra: dict[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.notifications / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_us_per_message(self) -> float:
        return self.cpu_seconds / self.notifications * 1e6 if self.notifications else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "notifications": self.notifications, "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds, "rate_per_second": self.rate,
            "cpu_us_per_message": self.cpu_us_per_message, "outcomes": self.outcomes,
            "standin_busy": self.standin_busy, "note": self.note, **self.extra,
        }  # fmt: skip


def device_entry(i: int, platform: str, target: dict[str, Any] | str) -> dict[str, Any]:
    """What the segment query puts in a send batch for one device (see delivery.segment.device_entry)."""
    name = FIRST_NAMES[i % len(FIRST_NAMES)]
    context: dict[str, Any] = {
        "locale": "en-US", "country": "US", "timezone": "Europe/Paris", "platform": platform,
        "user_id": f"user-{i}", "tags": {"plan": "pro" if i % 3 else "free", "visits": i % 40},
        "attributes": {"first_name": name} if name else {},
    }  # fmt: skip
    entry: dict[str, Any] = {"id": f"dev-{i:08d}", "p": platform, "v": "default", "c": context}
    if platform == "web":
        entry["s"] = target
    else:
        entry["t"] = target
    return entry


def batch_bodies(fixture: Fixture, n: int, size: int, prefix: str) -> list[str]:
    """SQS message bodies of send batches, as the segment query writes them (compact JSON)."""
    entries = [device_entry(i, fixture.platform, fixture.targets[i % len(fixture.targets)]) for i in range(n)]
    return [
        json.dumps({"app_id": APP_ID, "campaign_id": CAMPAIGN_ID, "batch_id": f"{prefix}.{i // size}",
                    "devices": entries[i : i + size]}, separators=(",", ":"))
        for i in range(0, n, size)
    ]  # fmt: skip


SQS_MESSAGES_PER_INVOCATION = 10  # template.yaml: SenderFunction SQS BatchSize


async def _send_all(deps: SenderDeps, bodies: list[str]) -> Counter[str]:
    """Invocation after invocation, each sending its SQS records' batches at once, as the sender does."""
    outcomes: Counter[str] = Counter()
    for i in range(0, len(bodies), SQS_MESSAGES_PER_INVOCATION):
        invocation = bodies[i : i + SQS_MESSAGES_PER_INVOCATION]
        share = concurrency_share(deps.settings, len(invocation))
        sends = (send_batch(deps, json.loads(body), concurrency=share) for body in invocation)
        for counts in await asyncio.gather(*sends):
            outcomes.update(counts)
    return outcomes


def run_engine(
    fixture: Fixture,
    n: int,
    settings: Settings,
    name: str = "",
    transport: Callable[[Fixture], Any] | None = None,
) -> Measurement:
    """`transport`: a fresh transport for the provider instead of its own (bench/transports.py)."""
    meter = DynamoMeter()
    campaigns, item = MeteredCampaigns(meter), campaign_item(APP_ID, CAMPAIGN_ID, SPEC)
    campaigns.create(item)
    carrier = transport(fixture) if transport else None
    providers = FakeProviders({fixture.platform: fixture.provider(carrier)})
    deps = SenderDeps(
        settings=settings, campaigns=campaigns, devices=MeteredDevices(meter), providers=providers
    )
    size = settings.send_batch_size
    warmup = batch_bodies(fixture, min(size, n), size, "warm")
    bodies = batch_bodies(fixture, n, size, "bench")

    async def main() -> Measurement:
        await _send_all(deps, warmup)  # connections, tokens and compiled templates, as in a warm container
        before = meter.snapshot()
        standin_cpu = fixture.standin.cpu_seconds()
        wall, cpu = time.perf_counter(), time.process_time()
        outcomes = await _send_all(deps, bodies)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = meter.snapshot()
        await providers.aclose()
        if carrier is not None:  # a provider does not close a transport it was given
            await carrier.aclose()
        batches = len(bodies)
        dynamo = {
            "requests_per_batch": {k: (v - before["requests"].get(k, 0)) / batches
                                   for k, v in after["requests"].items()},
            "rru_per_batch": (after["rru"] - before["rru"]) / batches,
            "wru_per_batch": (after["wru"] - before["wru"]) / batches,
        }  # fmt: skip
        return Measurement(
            name or f"engine ({fixture.channel})", n, wall, cpu, dict(outcomes),
            standin_busy=(fixture.standin.cpu_seconds() - standin_cpu) / wall,
            extra={"batches": batches, "batch_bytes": sum(map(len, bodies)) / batches, "dynamodb": dynamo,
                   "campaign_item_bytes": item_size(item),
                   "progress_item_bytes": campaigns.progress_size(APP_ID, CAMPAIGN_ID)},
        )  # fmt: skip

    return asyncio.run(main())
