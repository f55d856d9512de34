"""One journey entered by an audience of `--devices` (JOURNEY_ENROLMENTS, else 1,000: a smoke size) through the
whole local stack, every AWS request counted per stage.

The journey: a one-off audience entry (`{"audience", "schedule": {"type": "at"}}`: the segment query's
bounded pages, then `journey_enrol` messages), a send, a one-day wait, the exit. Stages, each metered alone:

- `entry`: the entry campaign's wave, plan and cursor tasks, the enrol messages, each device's enrolment and
  first move (its send claimed and committed, its wait's timer armed), the sender's sends;
- `timers`: the driven clock a day on; the minute's sweeps fire every timer (at most 25 pages of 200 per
  shard and minute: several sweeps for 100,000) and each enrolment exits.

Per enrolment and per million enrolment-steps (steps entered: send, wait and exit, 3 per enrolment), from
the counts: requests by operation, capacity units, SQS requests, invocations and CPU, priced as bench/wave.py
prices a campaign. Then the model: a million enrolments within a minute and ten million waiting, each with
its binding limit, held to AWS's published limits (LIMITS), and the writes each key kind and its hottest key
and item take (`writes_by_key`). Progress on stderr every 5 s.

python -m bench.journey [--devices 100000] [--latency 0.02]   (or JOURNEY_ENROLMENTS=100000)
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import signal
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import cost, emulator
from bench.standins import ROOT, StandIns, cores
from bench.wave import ADMIN_KEY, Meter, dynamodb, fcm_app, install, progress, scaled, write_devices

SMOKE_ENROLMENTS = 1_000  # `make bench BENCH_ONLY=journey` unless JOURNEY_ENROLMENTS says otherwise


def default_enrolments() -> int:
    """JOURNEY_ENROLMENTS (e.g. 100000 for the full run), else the smoke size."""
    return int(os.environ.get("JOURNEY_ENROLMENTS") or SMOKE_ENROLMENTS)


STEPS_PER_ENROLMENT = 3  # hello (send), rest (wait), done (exit)
TABLE_WRU_QUOTA = 40_000  # DynamoDB on-demand table write throughput quota, default (adjustable)
TABLE_RRU_QUOTA = 40_000
LAMBDA_CONCURRENCY = 1_000  # the account's default concurrent executions
DEFAULT_SHARDS = 16  # Settings.journey_timer_shards
STORED_BYTES = 1_700  # an enrolment (≈ 1.5 KB with its path) plus its timer (≈ 200 B)
GB_MONTH = 0.25  # DynamoDB Standard storage, $ per GB-month
JOURNEY: dict[str, Any] = {
    "name": "bench journey", "quiet_hours": "ignore", "reentry": "never",
    "first": "hello",
    "steps": {
        "hello": {"type": "send", "next": "rest",
                  "message": {"title": "{{ attributes.first_name | default: 'there' }}, welcome",
                              "body": "Three things to try first."}},
        "rest": {"type": "wait", "duration": "P1D", "next": "done"},
        "done": {"type": "exit"},
    },
}  # fmt: skip


class Stages:
    """The meter's counts at each stage's end, so each stage is reported alone."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.marks = [self._snapshot()]
        self.names: list[str] = []

    def _snapshot(self) -> dict[str, Any]:
        m = self.meter
        return {"requests": Counter(m.requests), "rru": m.rru, "wru": m.wru, "sqs": m.sqs_billed,
                "invocations": Counter(m.invocations), "cpu": dict(m.cpu), "at": time.perf_counter()}  # fmt: skip

    def close(self, name: str, resource: Any) -> None:
        active, self.meter.active = self.meter.active, False
        self.meter.size_updates(resource)  # updates are sized from the items as they are now
        self.meter.active = active
        self.names.append(name)
        self.marks.append(self._snapshot())

    def report(self, enrolments: int) -> dict[str, Any]:
        out = {}
        for name, a, b in zip(self.names, self.marks[:-1], self.marks[1:], strict=True):
            requests = b["requests"] - a["requests"]
            invocations = b["invocations"] - a["invocations"]
            cpu = {k: v - a["cpu"].get(k, 0.0) for k, v in b["cpu"].items()}
            out[name] = {
                "seconds": round(b["at"] - a["at"], 1),
                "requests": dict(sorted(requests.items())),
                "requests_per_enrolment": {k: round(v / enrolments, 3) for k, v in sorted(requests.items())},
                "rru_per_enrolment": round((b["rru"] - a["rru"]) / enrolments, 2),
                "wru_per_enrolment": round((b["wru"] - a["wru"]) / enrolments, 2),
                "sqs_requests_per_enrolment": round((b["sqs"] - a["sqs"]) / enrolments, 3),
                "invocations": dict(invocations),
                "cpu_ms_per_enrolment": {k: round(v / enrolments * 1000, 2) for k, v in cpu.items() if v},
            }  # fmt: skip
        return out


class HotKeys:
    """Writes per DynamoDB item, by key kind (the pk up to its first `#`): what one partition key and one item
    take per enrolment, so the model can hold them to DynamoDB's per-partition 1,000 WCU/s."""

    def __init__(self, meter: Meter) -> None:
        self.meter, self.lock = meter, threading.Lock()
        self.writes: Counter[tuple[str, str, str]] = Counter()  # (kind, pk, sk) → writes

    def install(self) -> None:
        import botocore.client

        original = botocore.client.BaseClient._make_api_call
        hot = self

        def counted(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if hot.meter.active and client.meta.service_model.service_name == "dynamodb":
                hot.count(operation, params)
            return original(client, operation, params)

        botocore.client.BaseClient._make_api_call = counted  # type: ignore[method-assign]

    def count(self, operation: str, params: dict[str, Any]) -> None:
        keys: list[dict[str, Any]] = []
        if operation == "PutItem":
            keys.append(params["Item"])
        elif operation in ("UpdateItem", "DeleteItem"):
            keys.append(params["Key"])
        elif operation == "TransactWriteItems":
            for item in params["TransactItems"]:
                kind, body = next(iter(item.items()))
                if kind != "ConditionCheck":
                    keys.append(body["Item"] if kind == "Put" else body["Key"])
        elif operation == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                keys += [r["PutRequest"]["Item"] if "PutRequest" in r else r["DeleteRequest"]["Key"] for r in requests]
        with self.lock:
            for key in keys:
                pk, sk = (_text(key.get("pk")), _text(key.get("sk")))
                if pk:
                    self.writes[pk.split("#", 1)[0], pk, sk] += 1

    def report(self, enrolments: int) -> dict[str, dict[str, float]]:
        """Per key kind: writes per enrolment, and the hottest partition key's and single item's share."""
        by_kind: dict[str, Counter[str]] = {}
        items: dict[str, int] = {}
        per_item: dict[str, int] = {}
        for (kind, pk, _), n in self.writes.items():
            by_kind.setdefault(kind, Counter())[pk] += n
            items[kind] = items.get(kind, 0) + 1
            per_item[kind] = max(per_item.get(kind, 0), n)
        return {kind: {"writes_per_enrolment": round(sum(pks.values()) / enrolments, 3),
                       "hottest_pk_writes_per_enrolment": round(max(pks.values()) / enrolments, 3),
                       "hottest_item_writes_per_enrolment": round(per_item[kind] / enrolments, 4),
                       "items": items[kind]}
                for kind, pks in sorted(by_kind.items())}  # fmt: skip


def _text(value: Any) -> str:
    """A key attribute, wire format ({"S": ...}) or plain."""
    return str(value["S"]) if isinstance(value, dict) else str(value or "")


class Watch(threading.Thread):
    """A progress line every `every` seconds: what the journey's stats say so far."""

    def __init__(self, look: Any, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.look, self.every, self.stopped, self.started = look, every, threading.Event(), time.perf_counter()

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                progress(f"{time.perf_counter() - self.started:5.0f} s: {self.look()}")
            except httpx.HTTPError:
                continue

    def __enter__(self) -> Watch:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join()


def run_journey(n: int, latency: float) -> dict[str, Any]:
    from pushengine.dal import aws
    from samlocal import LocalRuntime

    meter = Meter()
    install(meter)
    hot = HotKeys(meter)
    hot.install()
    _, standin_cores = cores()
    with StandIns(latency, standin_cores) as standins:
        fcm = standins.start("fcm")
        parameters = {"AdminKeyHash": hashlib.sha256(ADMIN_KEY.encode()).hexdigest(), "FcmEndpoint": fcm.base_url}
        with LocalRuntime(ROOT / "template.yaml", parameters=parameters, background=False) as stack:
            emulator.install()
            for function in stack.functions:
                install.wrap(function)  # type: ignore[attr-defined]
            api = httpx.Client(base_url=stack.api_url, timeout=60)
            app, server = fcm_app(api, fcm.base_url, "journey")
            progress(f"writing {n:,} devices in bulk")
            write_devices(stack, app["app_id"], n)
            before = httpx.get(f"{fcm.base_url}/_standin/stats").json()

            def stats() -> dict[str, Any]:
                got = api.get(f"/v1/journeys/{journey_id}", headers=server)
                got.raise_for_status()
                return dict(got.json()["stats"])

            def line() -> str:
                s = stats()
                accepted = httpx.get(f"{fcm.base_url}/_standin/stats", timeout=5).json()["accepted"] - before["accepted"]
                return (f"entered {s['entered']:,} of {n:,}, sent {accepted:,}, waiting "
                        f"{s['steps']['rest']['waiting']:,}, completed {s['completed']:,}")  # fmt: skip

            stages = Stages(meter)
            meter.active = True
            started = time.perf_counter()
            body = copy.deepcopy(JOURNEY)
            now = datetime.now(UTC).replace(microsecond=0)
            body["entry"] = {"audience": {"attr": "tags.plan", "op": "in", "value": ["pro", "free"]},
                             "schedule": {"type": "at", "at": now.isoformat()}}  # fmt: skip
            r = api.post("/v1/journeys", json=body, headers=server)
            r.raise_for_status()
            journey_id = r.json()["journey_id"]
            progress(f"journey {journey_id}: {n:,} devices enter")
            with Watch(line):
                while True:
                    stack.drain(timeout=7200)
                    s = stats()
                    accepted = httpx.get(f"{fcm.base_url}/_standin/stats").json()["accepted"] - before["accepted"]
                    if s["entered"] >= n and s["steps"]["rest"]["waiting"] >= n and accepted >= n:
                        break
                    time.sleep(0.5)
            entry_seconds = time.perf_counter() - started
            aws._client.cache_clear()
            stages.close("entry", dynamodb(stack))
            progress(f"entry: {n:,} enrolled and sent in {entry_seconds:.0f} s; the clock a day on")
            moment = now + timedelta(days=1, minutes=1)
            sweeps = 0
            with Watch(line):
                while stats()["completed"] < n:
                    stack.clock.set(moment)
                    stack.fire_due_schedules()  # the minute's sweep: a task per shard with a due timer
                    stack.drain(timeout=7200, schedules=True)
                    sweeps += 1
                    moment += timedelta(minutes=1)
                    if sweeps > 60:
                        raise RuntimeError(f"timers not all fired after {sweeps} sweeps: {stats()}")
            aws._client.cache_clear()
            stages.close("timers", dynamodb(stack))
            meter.active = False
            wall = time.perf_counter() - started
            final = stats()
            after = httpx.get(f"{fcm.base_url}/_standin/stats").json()
    accepted = after["accepted"] - before["accepted"]
    steps = sum(v["entered"] for v in final["steps"].values())
    exact = (final["entered"] == final["completed"] == n and final["steps"]["hello"]["sent"] == n
             and accepted == n and steps == n * STEPS_PER_ENROLMENT and final["active"] == 0)  # fmt: skip
    return {
        "enrolments": n, "latency_s": latency, "wall_seconds": wall, "entry_seconds": entry_seconds,
        "sweeps": sweeps, "enrolments_per_second_entry": n / entry_seconds, "stats": final,
        "standin_accepted": accepted, "enrolment_steps": steps, "stats_exact": exact,
        "stages": stages.report(n), "requests": dict(meter.requests), "writes_by_key": hot.report(n),
        "per_million_enrolment_steps": scaled(meter, 1e6 / max(1, steps),
                                              after["bytes_received"] - before["bytes_received"]),
    }  # fmt: skip


# AWS's published limits the model holds the measured counts to (read 2026-12-07):
LIMITS = {
    "partition": "DynamoDB: 1,000 WCU and 3,000 RCU per second per partition, and one item never spans two "
                 "(docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html); split "
                 "for heat does not help a key written in increasing sort-key order",
    "table": "DynamoDB on-demand: 40,000 RRU/s and 40,000 WRU/s per table by default, adjustable "
             "(docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html)",
    "lambda": "Lambda: 1,000 concurrent executions per account and Region by default "
              "(docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)",
    "sqs": "SQS standard queues: nearly unlimited requests per second, 120,000 messages in flight per queue "
           "(docs.aws.amazon.com/AWSSimpleSQS/latest/SQSDeveloperGuide/quotas-messages.html)",
    "scheduler": "EventBridge Scheduler: CreateSchedule 5,000/s and 1,000 invocations/s by default in the primary "
                 "Regions (docs.aws.amazon.com/scheduler/latest/UserGuide/scheduler-quotas.html); the engine "
                 "makes no per-enrolment Scheduler call, only the sweep's one rate(1 minute) schedule",
}  # fmt: skip
PARTITION_WCU = 1_000
TRANSACT_WRU = 2  # the least one transactional write of an item up to 1 KB costs


def pressures(result: dict[str, Any], per_s: float) -> list[tuple[float, str, str]]:
    """(demand over capacity, what) for each limit at `per_s` enrolments a second through the entry stage."""
    entry = result["stages"]["entry"]
    wru = entry["wru_per_enrolment"] * per_s
    calls = sum(v for k, v in entry["requests_per_enrolment"].items() if k.startswith(("dynamodb.", "sqs.Send")))
    concurrency = per_s * (sum(entry["cpu_ms_per_enrolment"].values()) / 1000 + calls * cost.ROUND_TRIP_SECONDS)
    out = [(wru / TABLE_WRU_QUOTA, f"the table's write throughput: {wru:,.0f} WRU/s against the default "
                                   f"{TABLE_WRU_QUOTA:,}", "table"),
           (concurrency / LAMBDA_CONCURRENCY, f"Lambda concurrency: ≈ {concurrency:,.0f} against "
                                              f"{LAMBDA_CONCURRENCY:,}", "lambda")]  # fmt: skip
    for kind, w in result.get("writes_by_key", {}).items():
        # a counter item cannot split, nor can a key written in time order (the timers); a journey's enrolments
        # (`enrol#…`, device ids as sort keys) split for heat, so its one key is reported, not held to 1,000
        hottest = {"jstats": "hottest_item_writes_per_enrolment", "jtimer": "hottest_pk_writes_per_enrolment"}
        if kind in hottest:
            wcu = w[hottest[kind]] * per_s * TRANSACT_WRU
            out.append((wcu / PARTITION_WCU, f"`{kind}#…` ({w['items']:,} items): its hottest "
                        f"{'key' if kind == 'jtimer' else 'item'} takes ≥ {wcu:,.0f} WCU/s against one partition's "
                        f"{PARTITION_WCU:,}", "partition"))  # fmt: skip
    return sorted(out, reverse=True)


def model(result: dict[str, Any]) -> list[dict[str, Any]]:
    """A million enrolments within a minute, and ten million waiting, from the measured counts."""
    entry = result["stages"]["entry"]
    timers = result["stages"]["timers"]
    per_s = 1_000_000 / 60
    wru = entry["wru_per_enrolment"] * per_s
    rru = entry["rru_per_enrolment"] * per_s
    cpu_s = sum(entry["cpu_ms_per_enrolment"].values()) / 1000 * per_s  # busy Lambda seconds per second
    burst = pressures(result, per_s)
    ratio, binding, _ = burst[0]
    fired_per_minute = DEFAULT_SHARDS * 25 * 200
    stored_gb = 10_000_000 * STORED_BYTES / 1e9
    timer_wcu = fired_per_minute / 60 / DEFAULT_SHARDS * TRANSACT_WRU
    return [
        {"size": "1,000,000 enrolments within a minute",
         "figure": f"{wru:,.0f} WRU/s and {rru:,.0f} RRU/s; {cpu_s:,.0f} Lambda CPU-s/s",
         "binding": f"{binding}: {ratio:.1f}x, so the burst takes ≈ {max(1.0, ratio):.0f} minutes"
                    + (f"; next: {burst[1][1]} ({burst[1][0]:.1f}x)" if len(burst) > 1 else ""),
         "limits": [{"ratio": round(r, 2), "limit": what, "source": LIMITS[src]} for r, what, src in burst],
         "not_binding": [LIMITS["sqs"], LIMITS["scheduler"]]},
        {"size": "10,000,000 waiting",
         "figure": f"≈ {stored_gb:,.0f} GB stored (${stored_gb * GB_MONTH:,.2f}/month); nothing per minute while "
                   f"they wait; firing {fired_per_minute:,} timers a minute with {DEFAULT_SHARDS} shards "
                   f"({timers['wru_per_enrolment']:.1f} WRU per fired timer; ≈ {timer_wcu:,.0f} WCU/s of timer "
                   f"deletes per shard partition, under its {PARTITION_WCU:,})",
         "binding": (f"the sweep's pages: {DEFAULT_SHARDS} shards x 25 pages x 200 = {fired_per_minute:,} a minute; "
                     f"10 M due at once drain in {10_000_000 / fired_per_minute:,.0f} minutes, so a burst "
                     "due together wants JOURNEY_TIMER_SHARDS=64 or more (each shard's partition takes "
                     f"{PARTITION_WCU:,} WCU/s)")},
    ]  # fmt: skip


def print_report(result: dict[str, Any], priced: dict[str, Any]) -> None:
    s = result["stats"]
    print(f"\nOne journey, {result['enrolments']:,} enrolments through the local stack in {result['wall_seconds']:.0f} s "
          f"(entry {result['entry_seconds']:.0f} s: {result['enrolments_per_second_entry']:,.0f} enrolments/s; "
          f"{result['sweeps']} sweeps); entered {s['entered']:,}, completed {s['completed']:,}, "
          f"sent {s['steps']['hello']['sent']:,}, stand-in accepted {result['standin_accepted']:,}, "
          f"stats exact: {result['stats_exact']}")  # fmt: skip
    for name, stage in result["stages"].items():
        print(f"  stage {name} ({stage['seconds']:.0f} s): {stage['wru_per_enrolment']} WRU, "
              f"{stage['rru_per_enrolment']} RRU, {stage['sqs_requests_per_enrolment']} SQS requests per enrolment")
        for op, per in stage["requests_per_enrolment"].items():
            print(f"    {op:40} {per:8.3f} per enrolment  ({stage['requests'][op]:,})")
    print(f"AWS list price per million enrolment-steps ({STEPS_PER_ENROLMENT} per enrolment), from the counts")
    for line, usd in priced["lines"].items():
        print(f"  {line:16} ${usd:.4f}")
    print(f"  {'AWS total':16} ${priced['aws_total']:.4f}")
    for row in model(result):
        print(f"  {row['size']}: {row['figure']}\n    binding: {row['binding']}")
        for limit in row.get("limits", []):
            print(f"      {limit['ratio']:6.2f}x  {limit['limit']}")
    print("  limits, as AWS publishes them:")
    for text in LIMITS.values():
        print(f"    - {text}")


def price(result: dict[str, Any]) -> dict[str, Any]:
    pm = result["per_million_enrolment_steps"]
    memory = {f: cost.FUNCTION_MEMORY_MB.get(f, 512) for f in pm["lambda_cpu_seconds"]} | {
        f: cost.FUNCTION_MEMORY_MB.get(f, 512) for f in pm.get("function_calls", {})}  # fmt: skip
    return cost.measured_per_million(pm, memory, cost.Prices())


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=default_enrolments(),
                        help=f"enrolments (JOURNEY_ENROLMENTS, else {SMOKE_ENROLMENTS:,})")  # fmt: skip
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench_journey.json")
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _stop)
    result = run_journey(args.devices, args.latency)
    priced = price(result)
    result["cost_per_million_enrolment_steps"] = priced
    result["model"] = model(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2, default=str))
    print_report(result, priced)
    print(f"\nwrote {args.json}")
    return 0 if result["stats_exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
