"""Imported at interpreter start-up by every Python process `make test-clock` runs under libfaketime (this folder
leads PYTHONPATH there): it keeps `time.sleep` working with the monotonic clock left real, and keeps Python's
environment writes out of the C environment, which libfaketime reads from every thread without a lock.

libfaketime 0.9.10 (Debian's) cannot shift a Python 3.12 process that uses threads with either setting of its
monotonic clock:
- faked (the default), every lock, Event or Queue wait with a timeout blocks for years: CPython waits with
  sem_clockwait(CLOCK_MONOTONIC), which libfaketime does not intercept, on a deadline taken from the faked clock;
- left real (FAKETIME_DONT_FAKE_MONOTONIC=1, `faketime --exclude-monotonic`), every time.sleep() fails with
  EINVAL: CPython sleeps with clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME), and libfaketime shifts that real
  deadline by the fake offset (wolfcw/libfaketime#426).
So the matrix leaves monotonic real and sleeps here with select(), which libfaketime passes through.

The environment: libfaketime 0.9.10 calls getenv() inside every getpid() ("FAKETIME_FAKEPID") and getrandom()
("FAKERANDOM_SEED"), and CPython calls getrandom() with the GIL released (os.urandom, uuid4, OpenSSL). A
setenv() that adds a variable reallocates glibc's environ array, so a thread inside such a getenv() walks freed
memory: the process dies with SIGSEGV. Four threads calling os.urandom while the main thread adds variables
crash it every time under faketime, never without; the local runtime adds AWS_ENDPOINT_URL and the functions'
shared variables while the embedded AWS's threads serve, which is the segmentation fault once seen at stack
start. So, here only, os.environ keeps its writes to itself (Python code, boto3 included, reads os.environ) and
every child process is handed that environment explicitly, as it would have inherited it.
"""

from __future__ import annotations

import os
import select
import subprocess
import time
from typing import Any

if os.environ.get("FAKETIME") and os.environ.get("FAKETIME_DONT_FAKE_MONOTONIC") == "1":

    def _sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        select.select([], [], [], seconds)  # PEP 475: retried on EINTR with the time left

    time.sleep = _sleep

    def _kept(*_: object) -> None:
        """os.environ's writes stay in os.environ: the C environment is left as the process started with it."""

    os.putenv = _kept  # os._Environ calls the module's putenv and unsetenv by name
    os.unsetenv = _kept

    def _process_env() -> dict[str, str]:
        """What a child would have inherited: the process's variables, with no thread's overlay (samlocal)."""
        data: dict[bytes, bytes] = os.environ._data  # type: ignore[attr-defined]
        return {os.fsdecode(k): os.fsdecode(v) for k, v in data.items()}

    _popen_init = subprocess.Popen.__init__

    def _popen(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        if not rest and kwargs.get("env") is None:
            kwargs["env"] = _process_env()
        _popen_init(self, args, *rest, **kwargs)

    subprocess.Popen.__init__ = _popen  # type: ignore[method-assign]
