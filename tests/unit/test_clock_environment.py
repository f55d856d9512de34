"""The clock matrix's processes survive what the local runtime does under libfaketime: environment writes while
other threads draw random bytes (tests/clock/sitecustomize.py says why libfaketime 0.9.10 crashed there).

Outside the matrix this runs as a plain unit test; in `make test-clock` it runs at every instant under faketime,
where, without the shim's environment handling, the process dies with SIGSEGV within the loop."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest


@pytest.mark.clock
def test_environment_writes_beside_threads_drawing_random_bytes_and_children_inherit_them() -> None:
    stop = threading.Event()

    def draw() -> None:
        while not stop.is_set():
            os.urandom(16)  # getrandom() with the GIL released: libfaketime reads the environment there

    threads = [threading.Thread(target=draw, daemon=True) for _ in range(4)]
    for t in threads:
        t.start()
    added: list[str] = []
    try:
        for i in range(8_000):  # what the runtime does at stack start, many times over: add and remove variables
            key = f"CLOCK_ENV_PROBE_{i}"
            os.environ[key] = "x"
            added.append(key)
            if i % 3 == 0:
                del os.environ[key]
                added.pop()
    finally:
        stop.set()
        for t in threads:
            t.join()
        for key in added:
            os.environ.pop(key, None)
    os.environ["CLOCK_ENV_CHILD"] = "inherited"
    try:
        child = subprocess.run([sys.executable, "-c", "import os; print(os.environ.get('CLOCK_ENV_CHILD'))"],
                               capture_output=True, text=True, check=True)  # fmt: skip
    finally:
        del os.environ["CLOCK_ENV_CHILD"]
    assert child.stdout.strip() == "inherited"
