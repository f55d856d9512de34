"""One campaign to a big zone through the whole local stack, every AWS request counted.

The real template on the embedded AWS emulator, the real handlers invoked by the runtime's SQS pollers,
the FCM stand-in in its own process. Devices are written in bulk (BatchWriteItem, items shaped as
DevicesRepository.put writes them). Every boto3 call is metered where botocore makes it (operation,
payload and response sizes, item sizes for capacity units), and every handler invocation's CPU (its own
thread, plus the boto3 calls it hands to worker threads). Figures are per million notifications.

python -m bench.wave [--devices 100000] [--latency 0.02]
"""

from __future__ import annotations

import argparse
import contextvars
import hashlib
import json
import math
import os
import signal
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import botocore.client
import httpx
from boto3.dynamodb.types import TypeDeserializer

from bench import cost, emulator
from bench.standins import ROOT, StandIns, cores
from pushengine.dal.devices import partition_key, range_key
from pushengine.limits import item_size

ADMIN_KEY = "bench-admin-key-" + "x" * 32
ZONE = "America/New_York"
PROJECT = "bench-wave"
SQS_CHUNK = 64 * 1024
_in_function: contextvars.ContextVar[str | None] = contextvars.ContextVar("in_function", default=None)
_deserializer = TypeDeserializer()


def progress(text: str) -> None:
    print(f"· {text}", file=sys.stderr, flush=True)


class Meter:
    """AWS requests as AWS bills them: DynamoDB capacity units from item sizes, SQS 64 KB chunks."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # DynamoDB and SQS sends each function made (it waits on them)
        self.rru = 0.0
        self.wru = 0.0
        self.units: Counter[str] = Counter()  # "RRU|WRU table operation" → units: where they go
        self.sqs_billed = 0
        self.sqs_bytes = 0
        # (table, key, multiplier, operation): sized at the end
        self.updates: list[tuple[str, dict[str, Any], float, str]] = []
        self.invocations: Counter[str] = Counter()
        # per function: seconds of CPU in handlers and their boto3 calls, and wall time
        self.cpu: defaultdict[str, float] = defaultdict(float)
        self.cpu_in_calls: defaultdict[str, float] = defaultdict(float)  # of that, inside boto3 calls
        self.wall: defaultdict[str, float] = defaultdict(float)
        self.active = False

    def call(self, operation: str, params: dict[str, Any], response: dict[str, Any], service: str) -> None:
        if not self.active:
            return
        if service == "sqs" and operation in ("GetQueueAttributes", "ListQueues", "GetQueueUrl"):
            return  # the runtime's own bookkeeping, not the function's or the event source's
        if service == "scheduler" and _in_function.get() is None:
            return  # the local scheduler's polling
        with self.lock:
            self.requests[f"{service}.{operation}"] += 1
            function = _in_function.get()
            if function is not None and (service == "dynamodb" or operation.startswith("SendMessage")):
                self.calls[function] += 1
            if service == "dynamodb":
                rru, wru = self.rru, self.wru
                self._dynamo(operation, params, response)
                table = _table_of(params)
                if self.rru != rru:
                    self.units[f"RRU {table} {operation}"] += self.rru - rru
                if self.wru != wru and operation != "TransactWriteItems":
                    self.units[f"WRU {table} {operation}"] += self.wru - wru
            elif service == "sqs":
                self._sqs(operation, params, response)

    def _dynamo(self, op: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        if op == "GetItem":
            size = item_size(_plain(response.get("Item", {})))
            self.rru += cost.dynamo_rru(size, consistent=bool(params.get("ConsistentRead")))
        elif op == "BatchGetItem":
            for table, items in response.get("Responses", {}).items():
                consistent = bool(params["RequestItems"][table].get("ConsistentRead"))
                self.rru += sum(cost.dynamo_rru(item_size(_plain(i)), consistent=consistent) for i in items)
        elif op == "Query":
            size = sum(item_size(_plain(i)) for i in response.get("Items", []))
            self.rru += max(1, math.ceil(size / 4096)) * (1 if params.get("ConsistentRead") else 0.5)
        elif op == "PutItem":
            self.wru += cost.dynamo_wru(item_size(_plain(params["Item"])))
        elif op == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                self.wru += sum(cost.dynamo_wru(item_size(_plain(r["PutRequest"]["Item"])))
                                for r in requests if "PutRequest" in r)  # fmt: skip
        elif op in ("UpdateItem", "DeleteItem"):
            self.updates.append((params["TableName"], params["Key"], 1.0, op))
        elif op == "TransactWriteItems":
            for item in params["TransactItems"]:
                if "Put" in item:
                    units = cost.dynamo_wru(item_size(_plain(item["Put"]["Item"])), transactional=True)
                    self.wru += units
                    self.units[f"WRU {_short(item['Put']['TableName'])} TransactPut"] += units
                else:
                    kind = next(iter(item))
                    self.updates.append((item[kind]["TableName"], item[kind]["Key"], 2.0, f"Transact{kind}"))

    def _sqs(self, op: str, params: dict[str, Any], response: dict[str, Any]) -> None:
        if op == "SendMessageBatch":
            size = sum(len(e["MessageBody"].encode()) for e in params["Entries"])
            self.sqs_bytes += size
            self.sqs_billed += max(1, math.ceil(size / SQS_CHUNK))
        elif op == "SendMessage":
            size = len(params["MessageBody"].encode())
            self.sqs_bytes += size
            self.sqs_billed += max(1, math.ceil(size / SQS_CHUNK))
        elif op == "ReceiveMessage":
            if not response.get("Messages"):  # an idle poll: pollers' cost per hour, not per notification
                self.requests["sqs.ReceiveMessage (empty)"] += 1
                self.requests["sqs.ReceiveMessage"] -= 1
                return
            size = sum(len(m.get("Body", "").encode()) for m in response.get("Messages", []))
            self.sqs_billed += max(1, math.ceil(size / SQS_CHUNK))
        else:
            self.sqs_billed += 1

    def size_updates(self, resource: Any) -> None:
        """Updates are billed on the larger of the item before and after: sized here by the item as it
        ended (counters only grow), so never under-counted."""
        sizes: dict[tuple[str, str], int] = {}
        for table, key, multiplier, operation in self.updates:
            plain = _plain(key)
            ident = (table, json.dumps(plain, sort_keys=True, default=str))
            if ident not in sizes:
                item = resource.Table(table).get_item(Key=plain).get("Item") or {}
                sizes[ident] = item_size(item) if item else 1
            units = cost.dynamo_wru(sizes[ident]) * multiplier
            self.wru += units
            self.units[f"WRU {_short(table)} {operation}"] += units
        self.updates.clear()


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    """A wire-format item ({"S": ...}) as Python values; resource-level items pass through."""
    if item and all(isinstance(v, dict) and len(v) == 1 and next(iter(v)) in _TYPES for v in item.values()):
        return {k: _deserializer.deserialize(v) for k, v in item.items()}
    return item


_TYPES = {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}


def _short(table: str) -> str:
    """A physical table name as its template name (`stack-DeliveryStateTable-ab12` → DeliveryStateTable)."""
    return next((part for part in table.split("-") if part.endswith("Table")), table)


def _table_of(params: dict[str, Any]) -> str:
    if "TableName" in params:
        return _short(params["TableName"])
    return ",".join(sorted(_short(t) for t in params.get("RequestItems", {}))) or "?"


def install(meter: Meter) -> None:
    """Meter every boto3 call in this process (clients and resources both end in _make_api_call)."""
    original = botocore.client.BaseClient._make_api_call
    own = threading.local()

    def metered(self: Any, operation: str, params: dict[str, Any]) -> Any:
        cpu = time.thread_time()
        response = original(self, operation, params)
        function = _in_function.get()
        if function is not None and meter.active:
            spent = time.thread_time() - cpu
            with meter.lock:
                meter.cpu_in_calls[function] += spent
                if getattr(own, "function", None) != function:  # a worker thread's call
                    meter.cpu[function] += spent
        meter.call(operation, params, response, self.meta.service_model.service_name)
        return response

    botocore.client.BaseClient._make_api_call = metered  # type: ignore[method-assign]

    def wrap(function: Any) -> None:
        invoke = function.invoke
        name = function.spec.logical_id

        def timed(event: Any, invoked_arn: str | None = None) -> Any:
            token = _in_function.set(name)
            own.function = name
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return invoke(event, invoked_arn)
            finally:
                with meter.lock:
                    if meter.active:
                        meter.invocations[name] += 1
                        meter.cpu[name] += time.thread_time() - cpu
                        meter.wall[name] += time.perf_counter() - wall
                own.function = None
                _in_function.reset(token)

        function.invoke = timed

    install.wrap = wrap  # type: ignore[attr-defined]


def device_item(app_id: str, i: int) -> dict[str, Any]:
    device_id = f"dev-{i:08d}"
    stamp = "2026-11-30T12:00:00+00:00"
    token = hashlib.sha256(device_id.encode()).hexdigest()[:22] + ":APA91b" + "x" * 120
    return {
        "pk": f"{app_id}#{device_id}", "app_id": app_id, "device_id": device_id,
        "aud": partition_key(app_id, ZONE), "ark": range_key(device_id), "status": "active",
        "created_at": stamp, "updated_at": stamp, "last_seen": stamp, "version": 1, "platform": "android",
        "token": token, "timezone": ZONE, "locale": "en-US", "country": "US", "user_id": f"user-{i}",
        "opted_in": True, "tags": {"plan": "pro" if i % 3 else "free", "visits": i % 40},
        "attributes": {"first_name": ("Ada", "Grace", "Linus", "Ken")[i % 4]},
    }  # fmt: skip


def dynamodb(stack: Any) -> Any:
    import boto3

    return boto3.resource("dynamodb", endpoint_url=stack.aws_url, region_name=stack.template.region,
                          aws_access_key_id="testing", aws_secret_access_key="testing")  # fmt: skip


def write_devices(stack: Any, app_id: str, n: int) -> float:
    """Devices stored straight into the emulator's table (bench/emulator.py: setup, not a measured path),
    shaped as DevicesRepository.put writes them; the zone's count set as registration keeps it."""
    started = time.perf_counter()
    for start in range(0, n, 20_000):
        emulator.bulk_put(
            stack, "DevicesTable", (device_item(app_id, i) for i in range(start, min(n, start + 20_000)))
        )
        progress(f"{min(n, start + 20_000):,} of {n:,} devices written")
    zones = dynamodb(stack).Table(stack.table_name("ZonesTable"))
    zones.put_item(
        Item={"app_id": app_id, "zone": ZONE, "first_seen": "2026-11-30T12:00:00+00:00", "devices": n}
    )
    return time.perf_counter() - started


def fcm_app(api: httpx.Client, fcm_url: str, name: str) -> tuple[dict[str, Any], dict[str, str]]:
    """A new app on the stack (admin key) with the FCM stand-in's service account: the app as created, and the
    headers of its server key."""
    created = api.post("/v1/apps", json={"name": name}, headers={"authorization": f"Bearer {ADMIN_KEY}"})
    created.raise_for_status()
    app = created.json()
    server = {"authorization": f"Bearer {app['server_key']}"}
    account = httpx.post(f"{fcm_url}/_standin/service-accounts", json={"project_id": PROJECT}).json()
    api.put(f"/v1/apps/{app['app_id']}/providers/fcm", json={"service_account": account},
            headers=server).raise_for_status()  # fmt: skip
    return app, server


def run_wave(n: int, latency: float) -> dict[str, Any]:
    from pushengine.dal import aws
    from samlocal import LocalRuntime

    meter = Meter()
    install(meter)
    _, standin_cores = cores()
    with StandIns(latency, standin_cores) as standins:
        fcm = standins.start("fcm")
        parameters = {
            "AdminKeyHash": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(),
            "FcmEndpoint": fcm.base_url,
        }
        with LocalRuntime(ROOT / "template.yaml", parameters=parameters, background=False) as stack:
            emulator.install()
            for function in stack.functions:
                install.wrap(function)  # type: ignore[attr-defined]
            api = httpx.Client(base_url=stack.api_url, timeout=60)
            app, server = fcm_app(api, fcm.base_url, "wave")
            progress(f"writing {n:,} devices in bulk")
            write_seconds = write_devices(stack, app["app_id"], n)
            progress(f"{n:,} devices written in {write_seconds:.0f} s; sending one campaign")
            before = httpx.get(f"{fcm.base_url}/_standin/stats").json()
            standin_cpu = fcm.cpu_seconds()
            meter.active = True
            started = time.perf_counter()
            body = {"name": "wave", "quiet_hours": "ignore",
                    "message": {"title": "{{ attributes.first_name | default: 'there' }}, your picks are ready",
                                "body": "Three new arrivals we think you will like.",
                                "url": "https://shop.example.com/picks"}}  # fmt: skip
            r = api.post("/v1/campaigns", json=body, headers=server)
            r.raise_for_status()
            campaign_id = r.json()["campaign_id"]
            with Reporter(fcm.base_url, before["accepted"], n, started):
                while True:
                    stack.drain(timeout=3600)
                    campaign = api.get(f"/v1/campaigns/{campaign_id}", headers=server).json()
                    if campaign["status"] == "completed":
                        break
                    time.sleep(0.2)
            wall = time.perf_counter() - started
            meter.active = False
            aws._client.cache_clear()
            meter.size_updates(dynamodb(stack))
            after = httpx.get(f"{fcm.base_url}/_standin/stats").json()
            standin_busy = (fcm.cpu_seconds() - standin_cpu) / wall
    stats = campaign["stats"]
    suppressed = sum(v for k, v in stats.items() if k.startswith("suppressed_"))
    accepted = after["accepted"] - before["accepted"]
    exact = stats["sent"] + stats["failed"] + stats["pruned"] + suppressed == stats["targeted"] == n
    per_million = 1e6 / max(1, stats["sent"])
    return {
        "devices": n, "zone": ZONE, "latency_s": latency, "wall_seconds": wall,
        "notifications_per_second": stats["sent"] / wall, "device_write_seconds": write_seconds,
        "stats": stats, "errors": campaign.get("errors", {}), "standin_accepted": accepted,
        "stats_exact": exact and accepted == stats["sent"], "standin_busy": standin_busy,
        "requests": dict(meter.requests),
        "per_million": scaled(meter, per_million, after["bytes_received"] - before["bytes_received"]),
    }  # fmt: skip


def scaled(meter: Meter, factor: float, wire_bytes: float) -> dict[str, Any]:
    """What the meter counted, times `factor` (1e6 / the run's units: per million of them)."""
    return {
        "dynamodb_rru": meter.rru * factor, "dynamodb_wru": meter.wru * factor,
        "sqs_requests": meter.sqs_billed * factor, "sqs_bytes": meter.sqs_bytes * factor,
        "lambda_invocations": {k: v * factor for k, v in meter.invocations.items()},
        "lambda_cpu_seconds": {k: v * factor for k, v in meter.cpu.items()},
        "lambda_cpu_seconds_in_aws_calls": {k: v * factor for k, v in meter.cpu_in_calls.items()},
        "lambda_wall_seconds_local": {k: v * factor for k, v in meter.wall.items()},
        "wire_bytes": wire_bytes * factor,
        "requests": {k: v * factor for k, v in meter.requests.items()},
        "function_calls": {k: v * factor for k, v in meter.calls.items()},
        "units": {k: round(v * factor, 1) for k, v in sorted(meter.units.items(), key=lambda kv: -kv[1])},
    }  # fmt: skip


class Reporter(threading.Thread):
    """A line every `every` seconds while the campaign runs: what the stand-in accepted so far, and the rate."""

    def __init__(self, standin_url: str, before: int, n: int, started: float, every: float = 10.0) -> None:
        super().__init__(daemon=True)
        self.url, self.before, self.n, self.started, self.every = standin_url, before, n, started, every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                accepted = httpx.get(f"{self.url}/_standin/stats", timeout=5).json()["accepted"] - self.before
            except httpx.HTTPError:
                continue
            elapsed = time.perf_counter() - self.started
            progress(f"{elapsed:5.0f} s: {accepted:,} of {self.n:,} sent ({accepted / elapsed:,.0f}/s)")

    def __enter__(self) -> Reporter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join()


def print_where(measured: dict[str, Any], prices: cost.Prices) -> None:
    """Where the money goes, per million notifications: capacity units by table and operation, CPU by function."""
    pm = measured["per_million"]
    print("  where it goes (per million notifications):")
    for line, units in pm.get("units", {}).items():
        kind = line.split(" ", 1)[0]
        usd = units * (prices.dynamo_per_rru if kind == "RRU" else prices.dynamo_per_wru)
        print(f"    {line:45} {units:>10,.0f}  ${usd:.4f}")
    calls = pm.get("lambda_cpu_seconds_in_aws_calls", {})
    for function, seconds in pm["lambda_cpu_seconds"].items():
        print(f"    {function:45} {seconds:>10,.0f} s CPU ({calls.get(function, 0):,.0f} s in AWS calls)")


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench_wave.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    for signum in (signal.SIGTERM, signal.SIGINT):  # unwind through StandIns' and the stack's cleanup
        signal.signal(signum, _stop)
    result = run_wave(args.devices, args.latency)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))

    prices = cost.Prices()
    print_measured_cost(
        result, cost.measured_per_million(result["per_million"], cost.FUNCTION_MEMORY_MB, prices)
    )
    return 0 if result["stats_exact"] else 1


def print_measured_cost(measured: dict[str, Any], priced: dict[str, Any]) -> None:
    stats = measured["stats"]
    print(f"\nOne campaign, {measured['devices']:,} devices in one zone, through the local stack: "
          f"{measured['notifications_per_second']:,.0f} notifications/s end to end; sent {stats['sent']:,}, "
          f"stand-in accepted {measured['standin_accepted']:,}, stats exact: {measured['stats_exact']}")  # fmt: skip
    pm = measured["per_million"]
    print(f"  per million: {pm['dynamodb_rru']:,.0f} RRU, {pm['dynamodb_wru']:,.0f} WRU, "
          f"{pm['sqs_requests']:,.0f} SQS requests ({pm['sqs_bytes'] / 1e9:.2f} GB), "
          f"{priced['lambda_gb_seconds']:,.0f} Lambda GB-s, "
          f"{sum(pm['lambda_invocations'].values()):,.0f} invocations")  # fmt: skip
    print("AWS list price per million notifications, from the measured counts")
    for line, usd in priced["lines"].items():
        print(f"  {line:16} ${usd:.4f}")
    print(f"  {'AWS total':16} ${priced['aws_total']:.4f}")
    egress = priced["egress"]
    print(f"  {'egress':16} ${egress['usd']:.4f}  ({egress['bytes_per_notification']:,.0f} bytes on the wire "
          f"per notification at ${cost.EGRESS_PER_GB}/GB)")  # fmt: skip
    print(f"  {'with egress':16} ${priced['total_with_egress']:.4f}")
    print_where(measured, cost.Prices())


if __name__ == "__main__":
    raise SystemExit(main())
