"""`make bench` at a tiny size: every phase runs once, so a bench that no longer runs fails `make test`.

The figures are not judged here (40 notifications say nothing about a rate); what is checked is that each
phase ran to its end and produced its figure: every contender sent what it was given (none reported n/a),
the segment query's page, the cost per million, the wave through the local stack with exact stats, the
scale model, a wave's first send timed hop by hop and modelled, the device import (engine alone and on the
local stack), and a big zone through an external endpoint in strict mode. Each runs as `make bench` runs
it, in its own process (the bench pins its CPU and installs signal handlers).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = 40  # notifications per phase
WAVE_DEVICES = 200

pytestmark = [pytest.mark.integration, pytest.mark.bench]


def bench(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
    done = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_every_phase_of_make_bench_runs_once_at_a_tiny_size(tmp_path: Path) -> None:
    report_path = tmp_path / "bench.json"
    bench("bench.run", "--n", str(TINY), "--rounds", "1", "--latency", "0.001",
          "--wave-devices", str(WAVE_DEVICES), "--first-send-devices", str(WAVE_DEVICES),
          "--json", str(report_path))  # fmt: skip
    report = json.loads(report_path.read_text())

    rows = report["throughput"]
    assert {r["channel"] for r in rows} == {"web", "android", "ios"}
    failed = [f"{r['channel']} {r['name']}: {r['note']}" for r in rows if not r["notifications"]]
    assert not failed, failed  # a peer that could not run is reported n/a: here that is a failure
    assert all(r["notifications"] >= TINY for r in rows)
    outcomes = [{k for k, n in r["outcomes"].items() if n} for r in rows]
    assert all(o <= {"sent", "encrypted"} for o in outcomes), outcomes  # nothing failed or was retried
    assert report["transports"]  # each hand-rolled transport judged against the stock ones
    assert report["segment_query_page"]["notifications"] > 0  # the segment query's share was measured
    assert report["cost_per_million"]["total"] > 0

    wave = report["wave"]
    assert wave["devices"] == WAVE_DEVICES and wave["stats_exact"] is True
    assert wave["stats"]["sent"] == WAVE_DEVICES == wave["standin_accepted"]
    assert report["cost_per_million_measured"]["aws_total"] > 0
    assert report["scale_model"]

    first = report["first_send"]  # timed hop by hop on the local stack, and modelled for AWS
    assert first["devices"] == WAVE_DEVICES and first["sent"] == WAVE_DEVICES
    assert 0 < first["wave_to_first_send_seconds"] < first["all_sent_seconds"]
    assert [h["hop"].split(" (")[0] for h in first["hops"]][-2:] == [
        "batch queued -> sender starts", "sender starts -> first notification at the provider"]  # fmt: skip
    assert {row["devices"] for row in first["aws_model"]} == {1_000_000, 10_000_000}


def test_the_import_bench_runs_on_the_engine_alone_and_on_the_local_stack() -> None:
    engine = bench("bench.imports", "--engine-only", "--lines", "200")
    assert re.search(r"engine only: 200 lines in .* lines/s", engine), engine
    stack = bench("bench.imports", "--once", "--lines", "200")
    assert "(completed, 200 done)" in stack, stack


def test_the_journey_bench_runs_through_the_local_stack(tmp_path: Path) -> None:
    out = tmp_path / "bench_journey.json"
    bench("bench.run", "--only", "journey", "--journey-devices", "30", "--latency", "0.001", "--json",
          str(tmp_path / "bench.json"))  # fmt: skip
    report = json.loads(out.read_text())
    assert report["stats_exact"] is True and report["enrolments"] == 30 == report["standin_accepted"]
    assert set(report["stages"]) == {"entry", "timers"}
    assert report["stages"]["entry"]["requests_per_enrolment"]["dynamodb.TransactWriteItems"] > 0
    assert report["cost_per_million_enrolment_steps"]["aws_total"] > 0 and len(report["model"]) == 2


def test_a_big_zone_through_an_external_endpoint_completes_exactly_in_strict_mode() -> None:
    """A moto_server process behind the strict proxy, Timeouts enforced: at 300 devices, every device once."""
    out = bench("bench.external_zone", "--devices", "300", "--subscriptions", "5")
    exact = "targeted 300, sent 300, failed 0; stand-in delivered 300; stopped at their Timeout: none; exact: True"
    assert exact in out, out
