"""Lambda functions run in-process: load `CodeUri/` + `Handler`, invoke with a Lambda-like context.

With `enforce_timeout` (strict mode), an invocation ends at its function's `Timeout`, as Lambda stops it:
the handler runs on the function's own worker thread (its warm container), the caller stops waiting at the
deadline and gets `FunctionTimeout`, and the worker is ended (an exception raised in it at its next Python
step) and replaced, as Lambda resets a timed-out execution environment. A thread, not a subprocess: the
handlers are imported once into this process and share its environment overlay, moto clients and the
tests' clock; a subprocess per invocation would re-import them and lose what a warm container keeps (the
sender's event loop and connections). What a thread cannot do is stop a call blocked in C (a long
`time.sleep`, a socket read): the worker then ends when that call returns, its result ignored.
"""

from __future__ import annotations

import contextvars
import ctypes
import importlib.util
import logging
import queue
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from samlocal import environ
from samlocal.template import FunctionSpec, TemplateError

log = logging.getLogger(__name__)


class LambdaContext:
    """The attributes and method of the Python runtime's context object."""

    def __init__(self, spec: FunctionSpec, invoked_arn: str) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = invoked_arn
        self.memory_limit_in_mb = spec.memory_size
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionTimeout(Exception):
    """An invocation passed its function's Timeout and was stopped (strict mode)."""

    def __init__(self, function: str, request_id: str, timeout: float) -> None:
        super().__init__(f"{function} request {request_id}: Task timed out after {timeout:.2f} seconds")
        self.function, self.request_id, self.timeout = function, request_id, timeout


class _Ended(BaseException):
    """Raised inside a timed-out invocation's thread to end it (BaseException: `except Exception` in a
    handler does not keep it alive)."""


KILL_GRACE = 2.0  # seconds a timed-out worker is given to end before it is left behind, logged


class _Invocation:
    def __init__(self, call: Callable[[], Any]) -> None:
        self.context = contextvars.copy_context()  # the caller's context variables, as in an inline call
        self.call = call
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.context.run(self.call)
        except BaseException as exc:  # handed to the caller, or dropped if it timed out
            self.error = exc
        finally:
            self.done.set()


class _Container:
    """A function's worker thread: runs one invocation at a time until it is ended."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Invocation | None] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            while (job := self._jobs.get()) is not None:
                job.run()
        except _Ended:
            return

    def submit(self, job: _Invocation) -> None:
        self._jobs.put(job)

    def stop(self) -> None:
        """End the thread once it is idle."""
        self._jobs.put(None)

    def end(self, job: _Invocation) -> bool:
        """Stop the running invocation; True if its thread ended within KILL_GRACE."""
        self._jobs.put(None)  # once the invocation is out of the way, the thread stops
        ident = self.thread.ident
        deadline = time.monotonic() + KILL_GRACE
        while self.thread.is_alive() and time.monotonic() < deadline:
            if not job.done.is_set() and ident is not None:
                # raised at its next bytecode; again each round in case a bare `except` swallowed one
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(_Ended))
            self.thread.join(0.05)
        return not self.thread.is_alive()


class LocalFunction:
    """One function, imported once (its cold start); invocations are serialised like one warm container.

    enforce_timeout: each invocation stops at the function's Timeout (FunctionTimeout, counted in
    `timeouts`); otherwise an overrun is only logged."""

    def __init__(self, spec: FunctionSpec, env: Mapping[str, str], *, enforce_timeout: bool = False) -> None:
        self.spec = spec
        self.enforce_timeout = enforce_timeout
        self.timeouts = 0
        self._container: _Container | None = None
        self.env = {
            **dict(env),
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{spec.name}",
            "LAMBDA_TASK_ROOT": str(spec.code_dir),
        }
        self.module: ModuleType | None = None
        self.handler: Callable[[Any, LambdaContext], Any] | None = None
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    def check_files(self) -> None:
        where = f"Resources.{self.spec.logical_id}"
        if not self.spec.code_dir.is_dir():
            raise TemplateError(f"{where}.Properties.CodeUri: directory {self.spec.code_dir} does not exist")
        if not self.spec.handler_file.is_file():
            raise TemplateError(f"{where}.Properties.Handler: {self.spec.handler_file} does not exist")

    def load(self) -> None:
        """Import the handler module under a name of its own (every handler file is app.py)."""
        self.check_files()
        spec = self.spec
        where = f"Resources.{spec.logical_id}.Properties.Handler"
        module_name = f"_local_lambda_{spec.logical_id}"
        before = set(sys.modules)
        # Layers stay importable, as /opt/python does in Lambda; the code dir only while importing.
        sys.path += [str(d) for d in spec.layer_dirs if str(d) not in sys.path]
        sys.path.insert(0, str(spec.code_dir))
        try:
            import_spec = importlib.util.spec_from_file_location(module_name, spec.handler_file)
            assert import_spec is not None and import_spec.loader is not None
            module = importlib.util.module_from_spec(import_spec)
            sys.modules[module_name] = module
            with environ.install().overlay(self.env):
                import_spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise TemplateError(f"{where}: importing {spec.handler_file} failed: {exc!r}") from exc
        finally:
            sys.path.remove(str(spec.code_dir))
            # Sibling modules of this function (e.g. its own `models.py`) must not shadow another function's.
            for name in set(sys.modules) - before - {module_name}:
                file = getattr(sys.modules[name], "__file__", None) or ""
                if Path(file).resolve().is_relative_to(spec.code_dir):
                    del sys.modules[name]
        handler = getattr(module, spec.handler_attr, None)
        if not callable(handler):
            raise TemplateError(f"{where}: {spec.handler_file} has no function {spec.handler_attr!r}")
        self.module, self.handler = module, handler

    def invoke(self, event: Any, invoked_arn: str | None = None) -> Any:
        """Run the handler once; its exception (or FunctionTimeout) propagates to the caller (API, poller
        or scheduler)."""
        if self.handler is None:
            raise RuntimeError(f"function {self.name} is not loaded")
        with self._lock:
            context = LambdaContext(self.spec, invoked_arn or self.spec.arn)
            log.info("invoke %s request %s", self.name, context.aws_request_id)
            if self.enforce_timeout:
                return self._bounded(event, context)
            started = time.monotonic()
            try:
                with environ.install().overlay(self.env):
                    return self._call(event, context)
            finally:
                elapsed = time.monotonic() - started
                if elapsed > self.spec.timeout:
                    log.warning(
                        "%s ran %.1fs, over its Timeout of %ss", self.name, elapsed, self.spec.timeout
                    )

    def close(self) -> None:
        """Let the worker thread go (strict mode); a later invocation starts a new one."""
        container, self._container = self._container, None
        if container is not None:
            container.stop()

    def _call(self, event: Any, context: LambdaContext) -> Any:
        assert self.handler is not None
        try:
            return self.handler(event, context)
        finally:
            # Metrics are disabled offline, and then Powertools never flushes them: clear them
            # per call, as a flush would in Lambda, so warm handlers do not pile them up.
            metrics = getattr(self.module, "metrics", None)
            if callable(getattr(metrics, "clear_metrics", None)):
                metrics.clear_metrics()  # type: ignore[union-attr]

    def _bounded(self, event: Any, context: LambdaContext) -> Any:
        """Run on the worker thread and wait no longer than the context's deadline."""

        def call() -> Any:
            with environ.install().overlay(self.env):
                return self._call(event, context)

        job = _Invocation(call)
        if self._container is None:
            self._container = _Container(f"lambda-{self.spec.logical_id}")
        container = self._container
        container.submit(job)
        if not job.done.wait(context.get_remaining_time_in_millis() / 1000):
            self.timeouts += 1
            self._container = None  # the next invocation gets a new worker, as after a reset
            log.warning(
                "%s request %s: Task timed out after %.2f seconds",
                self.name, context.aws_request_id, self.spec.timeout,
            )  # fmt: skip
            if not container.end(job):
                log.warning("%s request %s: still running after its timeout, left behind (its result is "
                            "ignored)", self.name, context.aws_request_id)  # fmt: skip
            raise FunctionTimeout(self.name, context.aws_request_id, self.spec.timeout)
        if job.error is not None:
            raise job.error
        return job.result


class FunctionRegistry:
    """Functions by logical id, physical name or ARN (a version/alias qualifier is ignored)."""

    def __init__(self, functions: list[LocalFunction]) -> None:
        self.functions = functions
        self._index: dict[str, LocalFunction] = {}
        for function in functions:
            for key in (function.spec.logical_id, function.name, function.spec.arn):
                self._index[key] = function

    def get(self, name_or_arn: str) -> LocalFunction:
        key = name_or_arn
        if key.startswith("arn:") and key.count(":") > 6:
            key = key.rsplit(":", 1)[0]
        if key not in self._index:
            raise KeyError(f"no local function named {name_or_arn}")
        return self._index[key]

    def __iter__(self) -> Iterator[LocalFunction]:
        return iter(self.functions)
