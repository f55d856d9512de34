"""Per-thread environment variables, so different in-process functions can run at the same time.

Lambda gives every function its own environment; in one process os.environ is shared. The local
runtime swaps os.environ for a view that shows the calling thread's function variables over the
process environment. Threads with no overlay see exactly the process environment.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

_install_lock = threading.Lock()


class ThreadEnviron(os._Environ[str]):
    def __init__(self, base: os._Environ[str]) -> None:
        # Share the process mapping: writes outside an overlay still reach os.putenv and the base view.
        super().__init__(base._data, base.encodekey, base.decodekey, base.encodevalue, base.decodevalue)  # type: ignore[attr-defined]
        self.base = base
        self._local = threading.local()

    def _overlay(self) -> dict[str, str]:
        overlay: dict[str, str] | None = getattr(self._local, "overlay", None)
        return overlay if overlay is not None else {}

    def __getitem__(self, key: str) -> str:
        overlay = self._overlay()
        return overlay[key] if key in overlay else super().__getitem__(key)

    def __setitem__(self, key: str, value: str) -> None:
        overlay = self._overlay()
        if key in overlay:
            overlay[key] = value
        else:
            super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        overlay = self._overlay()
        if key in overlay:
            del overlay[key]
        else:
            super().__delitem__(key)

    def __iter__(self) -> Iterator[str]:
        overlay = self._overlay()
        yield from overlay
        yield from (key for key in super().__iter__() if key not in overlay)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @contextmanager
    def overlay(self, values: Mapping[str, str]) -> Iterator[None]:
        previous = getattr(self._local, "overlay", None)
        self._local.overlay = dict(values)
        try:
            yield
        finally:
            self._local.overlay = previous


def install() -> ThreadEnviron:
    """Make os.environ a ThreadEnviron (once per process); it behaves as before until an overlay is set."""
    with _install_lock:
        if not isinstance(os.environ, ThreadEnviron):
            os.environ = ThreadEnviron(os.environ)  # noqa: B003 - a view over the same variables
        return os.environ
