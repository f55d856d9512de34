"""Imported at interpreter start-up by every Python process `make test-clock` runs under libfaketime (this folder
leads PYTHONPATH there): it keeps `time.sleep` working with the monotonic clock left real.

libfaketime 0.9.10 (Debian's) cannot shift a Python 3.12 process that uses threads with either setting of its
monotonic clock:
- faked (the default), every lock, Event or Queue wait with a timeout blocks for years: CPython waits with
  sem_clockwait(CLOCK_MONOTONIC), which libfaketime does not intercept, on a deadline taken from the faked clock;
- left real (FAKETIME_DONT_FAKE_MONOTONIC=1, `faketime --exclude-monotonic`), every time.sleep() fails with
  EINVAL: CPython sleeps with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), and libfaketime shifts that real
  deadline by the fake offset (wolfcw/libfaketime#426).
So the matrix leaves monotonic real and sleeps here with select(), which libfaketime passes through.
"""

from __future__ import annotations

import os
import select
import time

if os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)  # PEP 475: retried on EINTR with the time left

    time.sleep = _sleep
