"""`make test-clock`: the `clock`-marked tests run at each instant of a matrix, the whole pytest process (the
embedded AWS, the functions, the stand-ins and any process it starts) shifted there by libfaketime, its clock
running on from that instant.

    python -m tests.clock.matrix                                   # every instant, `-m clock`
    python -m tests.clock.matrix --at '2026-12-07 19:30:00' tests/e2e/test_imports.py   # one instant, any tests

The instants are those where a test that reads the wall clock has been seen to break: the edges of a UTC
day, 19:30 UTC (09:00 tomorrow has already passed in Pacific/Chatham), the EU and the US daylight-saving
changes, 28 February of a common year and 29 February of a leap year, the last minutes of a year, and a day
four years ahead (events over five years old are refused: fixed dates age out). Each is taken from today's
real date, so the matrix always lies around and ahead of the day it runs.

libfaketime settings: a fixed offset (`-f +N` seconds, so a child process sees the parent's time, where `@`
would restart each process at the instant), the monotonic clock left real (`--exclude-monotonic`), and
`tests/clock/sitecustomize.py` leading PYTHONPATH (why: see that file).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHIM = Path(__file__).resolve().parent  # sitecustomize.py


def _sunday(year: int, month: int, nth: int) -> date:
    """The nth Sunday of a month (nth=-1: the last)."""
    days = [date(year, month, d) for d in range(1, 32) if _valid(year, month, d)]
    sundays = [d for d in days if d.weekday() == 6]
    return sundays[nth - 1 if nth > 0 else nth]


def _valid(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def _at(day: date, hh: int, mm: int, ss: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=UTC)


def _next(now: datetime, instant_in: Callable[[int], datetime | None]) -> datetime:
    """The first instant_in(year) from this year on that is still ahead (None: that year has none)."""
    return next(i for y in range(now.year, now.year + 9) if (i := instant_in(y)) is not None and i > now)


def matrix(now: datetime) -> list[tuple[str, datetime]]:
    """(what the instant is, the instant), around and after `now`."""
    today, year = now.date(), now.year
    ahead = today.replace(year=year + 4) if _valid(year + 4, today.month, today.day) else date(year + 4, 3, 1)
    return [
        ("00:00:30 UTC", _at(today, 0, 0, 30)),
        ("23:59:30 UTC", _at(today, 23, 59, 30)),
        ("19:30 UTC, 09:00 tomorrow already past in Chatham", _at(today, 19, 30)),
        ("EU summer time starts at 01:00Z", _next(now, lambda y: _at(_sunday(y, 3, -1), 0, 59, 30))),
        ("US daylight time starts at 07:00Z", _next(now, lambda y: _at(_sunday(y, 3, 2), 6, 59, 30))),
        ("28 February of a common year",
         _next(now, lambda y: None if _valid(y, 2, 29) else _at(date(y, 2, 28), 23, 59, 30))),
        ("29 February of a leap year", _next(now, lambda y: _at(date(y, 2, 29), 19, 30) if _valid(y, 2, 29) else None)),
        ("31 December 23:55 UTC", _at(date(year, 12, 31), 23, 55)),
        ("a day four years ahead", _at(ahead, 12, 0)),
    ]  # fmt: skip


def run_at(instant: datetime, pytest_args: list[str]) -> tuple[int, str, float]:
    """pytest under libfaketime, its clock starting at `instant`: (exit code, output, real seconds)."""
    offset = round((instant - datetime.now(UTC)).total_seconds())
    path = os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    command = ["faketime", "-m", "--exclude-monotonic", "-f", f"{offset:+d}",
               sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *pytest_args]  # fmt: skip
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def clock_modules() -> list[str]:
    """The files holding `clock`-marked tests, collected once (real time): each instant then collects only them."""
    listed = subprocess.run([sys.executable, "-m", "pytest", "-q", "--collect-only", "-m", "clock"], cwd=ROOT,
                            capture_output=True, text=True, check=False)  # fmt: skip
    files = sorted({line.split("::", 1)[0] for line in listed.stdout.splitlines() if "::" in line})
    if not files:
        raise SystemExit(f"test-clock: no test is marked clock\n{listed.stdout[-2000:]}{listed.stderr[-2000:]}")
    return files


def _count(output: str, word: str) -> int:
    lines = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
    found = re.search(rf"(\d+) {word}", lines[-1]) if lines else None
    return int(found.group(1)) if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--at", help="one instant, 'YYYY-MM-DD HH:MM:SS' UTC, instead of the matrix")
    parser.add_argument("pytest_args", nargs="*", help="what pytest runs (default: -m clock)")
    args = parser.parse_args(argv)
    if shutil.which("faketime") is None:
        print("test-clock: faketime is not installed (apt-get install faketime; `make test-clock` does it)")
        return 2
    now = datetime.now(UTC)
    instants = [("chosen", datetime.fromisoformat(args.at).replace(tzinfo=UTC))] if args.at else matrix(now)
    pytest_args = args.pytest_args or ["-m", "clock", *clock_modules()]
    passed = failed = 0
    started = time.monotonic()
    for i, (what, instant) in enumerate(instants, 1):
        code, output, seconds = run_at(instant, pytest_args)
        ok, bad = _count(output, "passed"), _count(output, "failed") + _count(output, "error")
        if code != 0 and bad == 0:
            bad = 1  # pytest could not run (a collection error, no test selected): that instant failed
        passed, failed = passed + ok, failed + bad
        verdict = "ok" if code == 0 else "FAILED"
        print(f"clock [{i}/{len(instants)}] {instant:%Y-%m-%d %H:%M:%S}Z {what}: {ok} passed, {bad} failed "
              f"in {seconds:.0f} s: {verdict}", flush=True)  # fmt: skip
        if code != 0:
            lines = output.splitlines()
            fatal = next((k for k, line in enumerate(lines) if line.startswith("Fatal Python error")), None)
            if fatal is not None and fatal < len(lines) - 60:  # a crash: its first thread is the one that faulted
                print("\n".join(lines[fatal : fatal + 25]), "...", sep="\n", flush=True)
            print("\n".join(lines[-60:]), flush=True)
    print(f"test-clock: {len(instants)} instants in {time.monotonic() - started:.0f} s")
    print(f"clock: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
