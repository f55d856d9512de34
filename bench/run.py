"""`make bench`: notifications per second of our sender and of the peers on the same stand-ins, and the
AWS list-price cost per million notifications from the measured figures.

python -m bench.run [--n 5000] [--latency 0.02] [--json reports/bench.json] [--only transports|wave|journey]

`--only transports` (or BENCH_ONLY=transports) runs just the engine on its own transports and on the stock
ones (bench/transports.py), with the aioapns peer, and writes reports/bench_transports.json;
`--channels ios` (any of web,android,ios) narrows it further.
`--only wave` (or BENCH_ONLY=wave): just the campaign to --wave-devices through the local stack (bench/wave.py).
After the wave, a wave's first send is timed hop by hop on the local stack (--first-send-devices; bench/first_send.py)
and modelled for AWS.
`--only journey` (or BENCH_ONLY=journey): a journey of --journey-devices enrolments (JOURNEY_ENROLMENTS, else a
1,000 smoke run) through the local stack, per-stage request counts (bench/journey.py; reports/bench_journey.json).
Not in the default run: the local emulator enrols about 20 a second, so 100,000 take well over an hour.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import cost
from bench.engine import SQS_MESSAGES_PER_INVOCATION as SQS_MESSAGES_PER_SENDER_INVOCATION
from bench.engine import Measurement, run_engine
from bench.setup import Fixture, apns_fixture, fcm_fixture, webpush_fixture
from bench.standins import ROOT, StandIns, cores
from bench.transports import KEEP_MARGIN, STOCK, verdicts
from pushengine.config import Settings

CAMPAIGN_DEVICES = 1_000_000  # the campaign the per-million figures describe
CAMPAIGN_ZONES = 40  # distinct zones with devices (the demo's audience spans 24)
AUDIENCE_TASKS_PER_INVOCATION = 5  # template.yaml: SegmentQueryFunction SQS BatchSize
DYNAMO_ROUND_TRIP_S = 0.008  # assumed in-region DynamoDB latency the sender waits on
CHANNELS = frozenset(STOCK)  # web, android, ios
SEGMENT_WAIT_S = 0.060  # assumed per page: Query round trip + SendMessageBatch + transact write + update


# Each contender signs its own APNs provider token for the one bench key, as separate providers would; APNs'
# once-per-20-minutes token update rule is the engine's to keep in production (proven in
# tests/integration/test_apns_shared_token.py), not something the throughput contest measures.
STANDIN_OPTIONS = {"apns": ("--token-update-interval", "0")}


def progress(text: str) -> None:
    print(f"· {text}", file=sys.stderr, flush=True)


def attempt(name: str, run: Callable[[], Measurement]) -> Measurement:
    """A peer that cannot run here is reported n/a with its reason instead of stopping the bench."""
    progress(f"{name} ...")
    try:
        result = run()
    except Exception as exc:
        progress(f"{name}: n/a ({type(exc).__name__}: {exc})")
        return Measurement(name, 0, 0.0, 0.0, note=f"n/a: {type(exc).__name__}: {exc}")
    progress(f"{name}: {result.rate:,.0f}/s, {result.cpu_us_per_message:,.0f} µs CPU per message")
    return result


def interleaved(contenders: list[tuple[str, Callable[[], Measurement]]], rounds: int) -> list[Measurement]:
    """Every contender once per round, round after round, so a slow spell of the machine hits them alike;
    each is reported by its median round (every round's rate is kept in `rounds`, its CPU per message in
    `rounds_cpu_us`: 0 for a round that failed)."""
    runs: dict[str, list[Measurement]] = {name: [] for name, _ in contenders}
    for r in range(rounds):
        if rounds > 1:
            progress(f"round {r + 1} of {rounds}")
        for name, run in contenders:
            runs[name].append(attempt(name, run))
    chosen = []
    for name, _ in contenders:
        measured = sorted((m for m in runs[name] if m.notifications), key=lambda m: m.rate)
        median = measured[len(measured) // 2] if measured else runs[name][0]
        median.extra["rounds"] = [round(m.rate, 1) for m in runs[name]]
        median.extra["rounds_cpu_us"] = [round(m.cpu_us_per_message, 1) for m in runs[name]]
        chosen.append(median)
    return chosen


def delivered(fixture: Fixture, run: Callable[[], Measurement]) -> Callable[[], Measurement]:
    """The phase, then what the stand-in decrypted from it: every accepted body must open in the browser."""

    def checked() -> Measurement:
        before = fixture.standin.stats()
        result = run()
        after = fixture.standin.stats()
        result.extra["standin_decrypted"] = after["delivered"] - before["delivered"]
        result.extra["standin_undecryptable"] = after["undecryptable"] - before["undecryptable"]
        return result

    return checked


def engine_rows(fixture: Fixture, n: int, settings: Settings) -> list[tuple[str, Callable[[], Measurement]]]:
    """The engine on its own transport, then on each stock one (bench/transports.py)."""
    channel = fixture.platform
    rows: list[tuple[str, Callable[[], Measurement]]] = [
        (f"engine {channel}", lambda: run_engine(fixture, n, settings, f"engine {channel}"))
    ]
    for name, transport, _ in STOCK[channel]:
        rows.append((name, functools.partial(run_engine, fixture, n, settings, name, transport)))
    if channel == "web":
        rows = [(name, delivered(fixture, run)) for name, run in rows]
    return rows


def measure(
    n: int,
    n_sequential: int,
    latency: float,
    settings: Settings,
    rounds: int,
    only_transports: bool = False,
    channels: frozenset[str] = CHANNELS,
) -> dict[str, list[Measurement]]:
    """Every channel's rows; with `only_transports`, just the transport rows of `channels`."""
    from bench import peers

    measure_core, standin_cores = cores()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, measure_core)
    progress(f"measuring on CPU {sorted(measure_core)}, stand-ins on CPU {sorted(standin_cores)}")
    results: dict[str, list[Measurement]] = {}
    with StandIns(latency, standin_cores) as standins:
        # the push service answers without decrypting (as a real one does); every body is decrypted as
        # the browser would right after each phase, and counted
        if "web" in channels or not only_transports:
            web = webpush_fixture(standins.start("webpush", "--defer-decryption"), n)
            progress(f"web push stand-in {web.standin.base_url}, {len(web.targets)} subscriptions")
            web_peers = [] if only_transports else [
                ("encryption only", lambda: peers.encryption_ceiling(web, n)),
                ("engine encryption only", lambda: peers.engine_encryption(web, n)),
                ("pywebpush aiohttp", delivered(web, lambda: peers.pywebpush_aiohttp(web, n))),
            ]  # fmt: skip
            results["web"] = interleaved(engine_rows(web, n, settings) + web_peers, rounds)
        if not only_transports:
            sequential = delivered(web, lambda: peers.pywebpush_sequential(web, n_sequential))
            results["web"].insert(-1, attempt("pywebpush loop", sequential))  # ~40/s: once is enough
        native = (
            ("android", "fcm", fcm_fixture, "firebase-admin", peers.firebase_send_each),
            ("ios", "apns", apns_fixture, "aioapns", peers.aioapns_send),
        )
        for channel, standin, make_fixture, peer_name, peer in native:
            if only_transports and channel not in channels:
                continue
            fixture = make_fixture(standins.start(standin, *STANDIN_OPTIONS.get(standin, ())), n)
            progress(f"{standin} stand-in {fixture.standin.base_url}")
            contenders = engine_rows(fixture, n, settings)
            if not only_transports or standin == "apns":  # aioapns is a transport contender too
                contenders.append((peer_name, functools.partial(peer, fixture, n)))
            results[channel] = interleaved(contenders, rounds)
        if not only_transports:
            results["_segment"] = [segment_measurement(web, settings)]
    return results


def segment_measurement(web: Fixture, settings: Settings) -> Measurement:
    from bench.segment import measure_page

    page = measure_page(web.targets, settings.audience_page_size, settings.send_batch_size)
    return Measurement("segment query page", int(page["sent_per_page"]), 0.0, page["cpu_seconds_per_page"],
                       extra=page)  # fmt: skip


def stages(
    engine: Measurement, segment: Measurement, latency: float, settings: Settings
) -> dict[str, cost.Stage]:
    """The measured sender batch and audience page as billable units of work."""
    size = settings.send_batch_size
    dynamo = engine.extra["dynamodb"]
    batch_bytes = int(engine.extra["batch_bytes"])
    calls = sum(dynamo["requests_per_batch"].values())
    # the sender waits on DynamoDB before and after its sends, and on the last provider answers
    idle = (calls - dynamo["requests_per_batch"].get("PutItem checkpoint", 0)) * DYNAMO_ROUND_TRIP_S + latency
    sender = cost.Stage(
        notifications=size,
        lambda_seconds=cost.billed_seconds(engine.cpu_seconds / engine.notifications * size, cost.SENDER_MEMORY_MB)
        + idle,
        memory_mb=cost.SENDER_MEMORY_MB,
        invocations=1 / SQS_MESSAGES_PER_SENDER_INVOCATION,
        sqs_requests=cost.sqs_send_requests_per_message(batch_bytes)
        + cost.sqs_receive_delete_per_message(batch_bytes, SQS_MESSAGES_PER_SENDER_INVOCATION),
        rru=dynamo["rru_per_batch"],
        wru=dynamo["wru_per_batch"],
    )
    page_devices = settings.audience_page_size
    progress_bytes = int(engine.extra["progress_item_bytes"])  # the definition is cached per container
    device_bytes = int(segment.extra["device_item_bytes"])
    audience_task_bytes = 300
    # One audience task per (zone, shard) partition reads all its pages (up to audience_pages_per_task per
    # invocation, then continues itself) and writes one ledger transaction and one completion check.
    per_partition = CAMPAIGN_DEVICES / (CAMPAIGN_ZONES * settings.shard_count)
    pages_per_task = max(1, math.ceil(per_partition / page_devices))
    task_wru = cost.dynamo_wru(200, transactional=True) + cost.dynamo_wru(progress_bytes, transactional=True)
    task_rru = 2 * cost.dynamo_rru(progress_bytes, consistent=True)  # the progress read, try_complete's read
    segment_stage = cost.Stage(
        notifications=page_devices,
        lambda_seconds=cost.billed_seconds(segment.cpu_seconds, cost.SEGMENT_MEMORY_MB) + SEGMENT_WAIT_S,
        memory_mb=cost.SEGMENT_MEMORY_MB,
        invocations=1 / (AUDIENCE_TASKS_PER_INVOCATION * pages_per_task),
        sqs_requests=(cost.sqs_send_requests_per_message(audience_task_bytes)
                      + cost.sqs_receive_delete_per_message(audience_task_bytes, AUDIENCE_TASKS_PER_INVOCATION))
        / pages_per_task,
        rru=task_rru / pages_per_task
        + cost.dynamo_rru(page_devices * device_bytes, consistent=False),
        wru=task_wru / pages_per_task,
    )  # fmt: skip
    return {"sender": sender, "segment_query": segment_stage}


ASSUMPTIONS = [
    "Prices: US East list prices; Lambda arm64 $0.0000133334 per GB-s and $0.20 per million requests; SQS "
    "standard $0.40 per million requests, each 64 KB payload chunk billed as one; DynamoDB on-demand $0.625 per "
    "million WRU and $0.125 per million RRU; transactional writes cost 2 WRU per KB per item; a failed "
    "conditional write is still billed. Free tiers ignored.",
    f"Sender: {cost.SENDER_MEMORY_MB} MB gets {cost.SENDER_MEMORY_MB}/{cost.LAMBDA_MB_PER_VCPU} of a vCPU, so a "
    "CPU-bound batch is billed its measured CPU time / that share (the measuring core is taken as fast as a "
    "Graviton core: not verified); plus waits: each non-overlapped DynamoDB call "
    f"{DYNAMO_ROUND_TRIP_S * 1000:.0f} ms and one provider round trip for the batch's last answers.",
    f"Sender: one invocation per {SQS_MESSAGES_PER_SENDER_INVOCATION} SQS messages of one send batch each; SQS per "
    "batch = its share of the segment query's SendMessageBatch (up to 10 per request, 1 MiB) + its share of the "
    "poller's ReceiveMessage (payload-sized) + DeleteMessageBatch; empty long polls are not per notification.",
    "Sender DynamoDB: counted by the in-memory port per request from the stored item sizes (campaign GetItem "
    "strongly consistent, checkpoint GetItem/PutItems, ledger+campaign TransactWriteItems, try_complete "
    "UpdateItem). No device is pruned in the bench, so no per-device writes.",
    f"Segment query: a {CAMPAIGN_DEVICES:,}-device campaign over {CAMPAIGN_ZONES} zones x ShardCount "
    f"{Settings().shard_count} partitions, one audience task per partition reading all its pages of "
    f"{Settings().audience_page_size} devices; {cost.SEGMENT_MEMORY_MB} MB, {AUDIENCE_TASKS_PER_INVOCATION} tasks per "
    "invocation; per task a campaign progress GetItem, one ledger+progress transaction and try_complete's read; per "
    "page the Query (eventually consistent, GSI projects ALL, measured device item size); CPU measured "
    f"(parse, target, build entries, serialise), {SEGMENT_WAIT_S * 1000:.0f} ms of network waits assumed per page. "
    "Wave firing (one per zone wave, not per device) is left out.",
    "boto3's own CPU per DynamoDB/SQS call in the sender is not in the measured CPU (the ports are in memory): "
    "about 1-2 ms per call, 6 calls per 250 notifications, i.e. roughly +25-50 µs per notification.",
]


def rows(results: dict[str, list[Measurement]]) -> list[dict[str, Any]]:
    table = []
    for channel, measured in results.items():
        if channel.startswith("_"):
            continue
        engine = measured[0]
        for m in measured:
            ratio = m.rate / engine.rate if engine.rate and m.rate else None
            table.append({"channel": channel, **m.as_dict(), "rate_vs_engine": ratio})
    return table


def print_table(table: list[dict[str, Any]], latency: float) -> None:
    print(f"\nThroughput on one core, stand-ins in separate processes, {latency * 1000:.0f} ms latency")
    header = (
        f"{'channel':8} {'contender':48} {'notif/s':>9} {'CPU µs/msg':>11} {'÷ engine':>9} {'stand-in':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in table:
        if r["notifications"] == 0:
            print(f"{r['channel']:8} {r['name']:48} {'n/a':>9}  {r['note']}")
            continue
        ratio = f"{r['rate_vs_engine']:.2f}x" if r["rate_vs_engine"] else "-"
        busy = f"{r['standin_busy'] * 100:.0f}%" if r["standin_busy"] else "-"
        outcome = "" if set(r["outcomes"]) <= {"sent", "encrypted"} else f"  {r['outcomes']}"
        print(f"{r['channel']:8} {r['name']:48} {r['rate_per_second']:9,.0f} {r['cpu_us_per_message']:11,.0f} "
              f"{ratio:>9} {busy:>9}{outcome}")  # fmt: skip
    print("stand-in: its process's CPU / wall time during the phase (near 100% = the stand-in was the limit)")
    print("rates are medians of interleaved rounds; every round's rate is in the JSON report")


def print_cost(breakdown: dict[str, Any], simple: float, prices: cost.Prices) -> None:
    print("\nAWS list price per million notifications (web push batch figures)")
    for stage, lines in breakdown["stages"].items():
        parts = ", ".join(f"{k} ${v:.4f}" for k, v in lines.items() if k != "subtotal")
        print(f"  {stage:14} ${lines['subtotal']:.4f}  ({parts})")
    print(f"  {'total':14} ${breakdown['total']:.4f}   = {breakdown['vs_pinpoint']:.3f}x Pinpoint "
          f"(${prices.pinpoint_per_million:.2f}), {breakdown['vs_sns']:.3f}x SNS mobile push "
          f"(${prices.sns_mobile_per_million:.2f})")  # fmt: skip
    print(f"  (sender Lambda at CPU time x 1 GB, no vCPU share and no waits: ${simple:.4f})")
    print("Assumptions:")
    for line in ASSUMPTIONS:
        print(f"  - {line}")


def targets(results: dict[str, list[Measurement]], total: float) -> dict[str, dict[str, Any]]:
    engine = results["web"][0]
    aiohttp_rate = next((m.rate for m in results["web"] if "aiohttp" in m.name), 0.0)
    ceiling_rate = next((m.rate for m in results["web"] if "ceiling" in m.name), 0.0)
    return {
        "web >= 2x pywebpush aiohttp": {"value": engine.rate / aiohttp_rate if aiohttp_rate else None,
                                        "goal": 2.0},
        "web >= 0.5x encryption-only ceiling": {"value": engine.rate / ceiling_rate if ceiling_rate else None,
                                                "goal": 0.5},
        "cost < $0.05 per million": {"value": total, "goal": 0.05, "lower_is_better": True},
    }  # fmt: skip


def undelivered(table: list[dict[str, Any]]) -> list[str]:
    """Phases whose sends the Web Push stand-in could not all decrypt, or decrypted fewer than were sent."""
    bad = []
    for r in table:
        if "standin_decrypted" not in r:
            continue
        sent = r["outcomes"].get("sent", 0)
        if r["standin_undecryptable"] or r["standin_decrypted"] < sent:
            bad.append(f"{r['name']}: {r['standin_decrypted']} decrypted, {r['standin_undecryptable']} "
                       f"undecryptable, {sent} reported sent")  # fmt: skip
    return bad


def scale_figures(wave_json: Path, bench_json: Path) -> Any:
    """The scale model's figures: the wave's counts, each channel's send path from this bench's report."""
    from bench import scale

    return scale.Figures.load(wave_json, bench_json)


def wave_figures(devices: int, latency: float, bench_json: Path, prices: cost.Prices) -> dict[str, Any]:
    """The big run through the local stack, its measured cost per million, and the scale model fed by it
    (each channel's send path from `bench_json`, this run's throughput report)."""
    from bench import scale, wave

    reports = bench_json.parent

    progress(f"one campaign to {devices:,} devices through the local stack")
    measured = wave.run_wave(devices, latency)
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "bench_wave.json").write_text(json.dumps(measured, indent=2, default=str))
    priced = cost.measured_per_million(measured["per_million"], cost.FUNCTION_MEMORY_MB, prices)
    wave.print_measured_cost(measured, priced)
    figures = scale_figures(reports / "bench_wave.json", bench_json)
    rows = scale.model(figures, Settings())
    scale.print_model(rows, figures)
    return {"wave": measured, "cost_per_million_measured": priced, "scale_model": rows}


def first_send_figures(devices: int, latency: float, page: Measurement, settings: Settings) -> dict[str, Any]:
    """A wave's first send timed hop by hop on the local stack, and modelled for AWS from the measured page CPU."""
    import subprocess
    import tempfile

    from bench import first_send

    progress(f"the first send of a wave to {devices:,} devices, on the local stack with background pollers")
    # its own process: a second stack in this one would find the engine's cached clients bound to the first
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "first_send.json"
        subprocess.run([sys.executable, "-m", "bench.first_send", "--devices", str(devices), "--latency",
                        str(latency), "--json", str(out), "--no-model"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        measured = json.loads(out.read_text())
    first_send.print_first_send(measured)
    measured["aws_model"] = first_send.models(float(page.extra["cpu_seconds_per_page"]), settings)
    first_send.print_model(measured["aws_model"])
    return measured


def wave_only(devices: int, latency: float, path: Path) -> int:
    """`make bench BENCH_ONLY=wave`: the big run alone, its figures written into the report beside the rest."""
    report = json.loads(path.read_text()) if path.exists() else {}
    big_run = wave_figures(devices, latency, path, cost.Prices())
    report.update(big_run)
    total = float(big_run["cost_per_million_measured"]["aws_total"])
    report.setdefault("targets", {})["cost < $0.05 per million"] = {
        "value": total, "goal": 0.05, "lower_is_better": True, "met": total < 0.05}  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {path}")
    return 0 if big_run["wave"]["stats_exact"] else 1


def print_transports(report: dict[str, Any]) -> None:
    print("\nHand-rolled transports against stock ones, the engine's whole send path on each (same run)")
    header = f"{'channel':8} {'hand-rolled':19} {'stock contender':34} {'msgs/s x':>9} {'CPU/msg x':>10}"
    print(header)
    print("-" * len(header))
    for channel, verdict in report.items():
        for name, r in verdict["against"].items():
            if "rate_ratio" not in r:
                print(f"{channel:8} {verdict['hand_rolled']:19} {name:34} n/a  {r['note']}")
                continue
            role = "" if r["drop_in"] else "  (reference: not a drop-in)"
            print(f"{channel:8} {verdict['hand_rolled']:19} {name:34} {r['rate_ratio']:8.2f}x "
                  f"{r['cpu_ratio']:9.2f}x{role}")  # fmt: skip
        margin = f"{verdict['margin']:.2f}x" if verdict["margin"] else "n/a"
        print(f"  -> {'keep' if verdict['keep'] else 'switch to stock'}: {margin} over the closest drop-in, "
              f"{verdict['closest_stock']}")  # fmt: skip
    print(f"msgs/s x: hand-rolled ÷ stock; CPU/msg x: stock ÷ hand-rolled (> 1: hand-rolled better); kept at "
          f">= {KEEP_MARGIN}x on either")  # fmt: skip


def _stop(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=5000, help="notifications per phase (default 5000)")
    parser.add_argument("--n-sequential", type=int, default=None,
                        help="notifications for the sequential pywebpush loop (default n/10)")  # fmt: skip
    parser.add_argument("--latency", type=float, default=0.02, help="stand-in answer latency in s (0.02)")
    parser.add_argument("--rounds", type=int, default=5,
                        help="interleaved rounds per channel; medians are reported (default 5)")  # fmt: skip
    parser.add_argument("--json", type=Path, default=ROOT / "reports" / "bench.json")
    parser.add_argument("--wave-devices", type=int, default=100_000,
                        help="devices of the campaign run through the local stack (0: skip it)")  # fmt: skip
    parser.add_argument("--first-send-devices", type=int, default=20_000,
                        help="devices of the zone whose first send is timed on the local stack (0: skip it)")  # fmt: skip
    parser.add_argument("--channels", default=",".join(sorted(CHANNELS)),
                        help="with --only transports: which of web,android,ios (default all)")  # fmt: skip
    parser.add_argument("--journey-devices", type=int, default=None,
                        help="with --only journey: enrolments (JOURNEY_ENROLMENTS, else 1,000)")  # fmt: skip
    parser.add_argument("--only", choices=["all", "transports", "wave", "journey"],
                        default=os.environ.get("BENCH_ONLY") or "all",
                        help="transports: only the engine on its own and on stock transports, and aioapns; "
                             "wave: only the campaign through the local stack, its figures written into the "
                             "report beside the others (default: $BENCH_ONLY or all)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.only == "transports":
        return transports_only(args)
    if args.only == "journey":
        from bench import journey

        devices = args.journey_devices or journey.default_enrolments()
        return journey.main(["--devices", str(devices), "--latency", str(args.latency),
                             "--json", str(args.json.with_name("bench_journey.json"))])  # fmt: skip
    n_sequential = args.n_sequential or max(50, args.n // 10)
    for signum in (signal.SIGTERM, signal.SIGINT):  # unwind through StandIns' cleanup, even when started in
        signal.signal(signum, _stop)  # the background (where SIGINT comes in ignored)
    if args.only == "wave":
        return wave_only(args.wave_devices or 100_000, args.latency, args.json)
    settings = Settings()
    started = time.monotonic()
    results = measure(args.n, n_sequential, args.latency, settings, max(1, args.rounds))
    engine_web, segment = results["web"][0], results["_segment"][0]
    if engine_web.notifications == 0:
        print("engine web failed: no cost figures", file=sys.stderr)
        return 1
    prices = cost.Prices()
    breakdown = cost.total_per_million(stages(engine_web, segment, args.latency, settings), prices)
    simple = engine_web.cpu_seconds / engine_web.notifications * 1e6 * prices.lambda_arm_gb_second
    table = rows(results)
    print_table(table, args.latency)
    transports = verdicts(results)
    print_transports(transports)
    print_cost(breakdown, simple, prices)
    goals = targets(results, breakdown["total"])
    print("\nTargets")
    for name, goal in goals.items():
        value = goal["value"]
        met = value is not None and (
            value < goal["goal"] if goal.get("lower_is_better") else value >= goal["goal"]
        )
        shown = "n/a" if value is None else (f"${value:.4f}" if name.startswith("cost") else f"{value:.2f}x")
        print(f"  {'MET ' if met else 'MISS'} {name}: {shown}")
        goal["met"] = met
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()},
        "settings": {"n": args.n, "n_sequential": n_sequential, "latency_s": args.latency,
                     "send_batch_size": settings.send_batch_size, "send_concurrency": settings.send_concurrency},
        "throughput": table,
        "transports": transports,
        "segment_query_page": segment.as_dict(),
        "cost_per_million": {**breakdown, "sender_cpu_only_simple": simple},
        "prices": asdict(prices),
        "assumptions": ASSUMPTIONS,
        "targets": goals,
        "run_seconds": time.monotonic() - started,
    }  # fmt: skip
    if args.wave_devices:
        args.json.parent.mkdir(parents=True, exist_ok=True)  # this run's send paths, for the scale model
        args.json.write_text(json.dumps(report, indent=2, default=str))
        big_run = wave_figures(args.wave_devices, args.latency, args.json, prices)
        report.update(big_run)
        measured_total = float(big_run["cost_per_million_measured"]["aws_total"])
        goals["cost < $0.05 per million"] = {"value": measured_total, "goal": 0.05, "lower_is_better": True,
                                             "met": measured_total < 0.05}  # fmt: skip
    if args.first_send_devices:
        report["first_send"] = first_send_figures(args.first_send_devices, args.latency, segment, settings)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {args.json} ({report['run_seconds']:.0f} s)")
    problems = undelivered(table)
    for problem in problems:
        print(f"NOT DELIVERED {problem}", file=sys.stderr)
    return 1 if problems else 0


def transports_only(args: argparse.Namespace) -> int:
    """The transport rows alone, in interleaved rounds as in the full run; written beside the full report."""
    started = time.monotonic()
    settings = Settings()
    channels = frozenset(args.channels.split(",")) & CHANNELS
    results = measure(args.n, 0, args.latency, settings, max(1, args.rounds), True, channels)
    table = rows(results)
    print_table(table, args.latency)
    transports = verdicts(results)
    print_transports(transports)
    path = (
        args.json
        if args.json != ROOT / "reports" / "bench.json"
        else args.json.with_name("bench_transports.json")
    )
    report = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count()},
        "settings": {"n": args.n, "latency_s": args.latency, "rounds": args.rounds, "only": "transports",
                     "channels": sorted(channels),
                     "send_batch_size": settings.send_batch_size, "send_concurrency": settings.send_concurrency},
        "throughput": table,
        "transports": transports,
        "run_seconds": time.monotonic() - started,
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, default=str))
    print(f"\nwrote {path} ({report['run_seconds']:.0f} s)")
    problems = undelivered(table)
    for problem in problems:
        print(f"NOT DELIVERED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
