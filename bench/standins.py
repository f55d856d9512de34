"""Provider stand-ins as separate processes on loopback, pinned away from the measuring core.

Every process started here is stopped by `StandIns.close()` (also on Ctrl-C or errors: use it as a
context manager); nothing else is ever killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Self

import httpx

ROOT = Path(__file__).resolve().parent.parent
MODULES = {"webpush": "local.standins.webpush", "fcm": "local.standins.fcm", "apns": "local.standins.apns"}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cores() -> tuple[set[int], set[int]]:
    """(the measuring core, the cores left for the stand-ins); one core for both when that is all."""
    available = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    measure = {available[0]}
    rest = set(available[1:]) or measure
    return measure, rest


def pin(to: set[int]) -> Callable[[], None]:
    def apply() -> None:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, to)

    return apply


class StandIn:
    def __init__(self, name: str, process: subprocess.Popen[str], base_url: str) -> None:
        self.name, self.process, self.base_url = name, process, base_url

    def stats(self) -> dict[str, Any]:
        """What the stand-in counted (GET /_standin/stats); the Web Push one decrypts what is pending first."""
        answer = httpx.get(f"{self.base_url}/_standin/stats", timeout=120)
        answer.raise_for_status()
        return dict(answer.json())

    def cpu_seconds(self) -> float:
        """user+system CPU of the stand-in process so far (from /proc; 0 where there is none)."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


class StandIns:
    """Starts each stand-in in its own process; `close()` terminates exactly those processes."""

    def __init__(self, latency: float, cpus: set[int]) -> None:
        self.latency, self.cpus = latency, cpus
        self.running: dict[str, StandIn] = {}

    def start(self, name: str, *options: str) -> StandIn:
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
        cmd = [sys.executable, "-m", MODULES[name], "--port", "0", "--latency", str(self.latency), *options]
        process = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            preexec_fn=pin(self.cpus),
        )  # fmt: skip
        self.running[name] = standin = StandIn(name, process, "")
        standin.base_url = _first_url(process.stdout, name)
        return standin

    def close(self) -> None:
        for standin in self.running.values():
            if standin.process.poll() is None:
                standin.process.terminate()
        deadline = time.monotonic() + 5
        for standin in self.running.values():
            try:
                standin.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                standin.process.kill()
                standin.process.wait()
        self.running.clear()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_url(stdout: IO[str] | None, name: str) -> str:
    """Each stand-in prints one line ending in its base URL once it listens."""
    line = stdout.readline() if stdout is not None else ""
    url = line.strip().split()[-1] if line.strip() else ""
    if not url.startswith("http://"):
        raise RuntimeError(f"{name} stand-in did not start (printed {line!r})")
    return url
