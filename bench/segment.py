"""The segment query's share of a notification: one audience page of devices, measured where it is CPU.

A page's DynamoDB reads come back as wire JSON that the device store decodes to plain values in one pass
(`dal.aws.plain_item`, what `partition_page` does); each device is then targeted and turned into a send-batch
entry, and the batches are serialised for SQS. That CPU is measured here on real code (boto3's
TypeSerializer for the fixture, pushengine's decoder, Targeting and device_entry); the network waits are
assumptions the report prints.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from bench.engine import APP_ID, CAMPAIGN_ID, SPEC
from pushengine.dal.aws import plain_item
from pushengine.dal.devices import partition_key, range_key
from pushengine.dal.numbers import to_dynamo
from pushengine.delivery.segment import device_entry
from pushengine.limits import item_size
from pushengine.models import CampaignSpec
from pushengine.targeting import Targeting


def device_item(i: int, subscription: dict[str, Any]) -> dict[str, Any]:
    """A web device as DevicesRepository.put stores it."""
    stamp = datetime.now(UTC).isoformat()
    item = {
        "pk": f"{APP_ID}#dev-{i:08d}", "app_id": APP_ID, "device_id": f"dev-{i:08d}",
        "aud": partition_key(APP_ID, "Europe/Paris"), "ark": range_key(f"dev-{i:08d}"), "status": "active",
        "created_at": stamp, "updated_at": stamp, "last_seen": stamp, "version": 1,
        "platform": "web", "subscription": subscription, "timezone": "Europe/Paris", "locale": "en-US",
        "country": "FR", "user_id": f"user-{i}", "opted_in": True,
        "tags": {"plan": "pro", "visits": i % 40}, "attributes": {"first_name": "Ada"},
    }  # fmt: skip
    return to_dynamo(item)  # type: ignore[no-any-return]


def measure_page(subscriptions: list[dict[str, Any]], page_size: int, batch_size: int) -> dict[str, float]:
    """CPU seconds for one audience page (parse, target, build entries, serialise batches), and item size."""
    items = [device_item(i, subscriptions[i % len(subscriptions)]) for i in range(page_size)]
    serializer = TypeSerializer()
    wire = json.dumps({"Items": [{k: serializer.serialize(v) for k, v in it.items()} for it in items]})
    targeting = Targeting(CAMPAIGN_ID, CampaignSpec.model_validate(SPEC))
    now = datetime.now(UTC)
    rounds = 3
    cpu = time.process_time()
    for _ in range(rounds):
        page = json.loads(wire)["Items"]
        devices = [plain_item(raw) for raw in page]  # the device store's one-pass decode
        entries = []
        for device in devices:
            if targeting.selects(device, now) and targeting.decide(device, now).outcome == "send":
                entries.append(device_entry(device, "default"))
        bodies = [json.dumps({"app_id": APP_ID, "campaign_id": CAMPAIGN_ID, "batch_id": "w.z.0.0",
                              "devices": entries[i : i + batch_size]}, separators=(",", ":"))
                  for i in range(0, len(entries), batch_size)]  # fmt: skip
    cpu_per_page = (time.process_time() - cpu) / rounds
    return {
        "cpu_seconds_per_page": cpu_per_page,
        "device_item_bytes": sum(item_size(it) for it in items) / len(items),
        "sent_per_page": len(entries),
        "batch_bytes": sum(map(len, bodies)) / max(1, len(bodies)),
    }
