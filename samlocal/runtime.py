"""LocalRuntime: the whole template on an embedded moto server, with functions run in-process."""

from __future__ import annotations

import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from samlocal import atomic_dynamodb, environ, fast_dynamodb
from samlocal.api import ApiServer, Cors, routes_of
from samlocal.embedded_aws import EmbeddedAws
from samlocal.functions import FunctionRegistry, LocalFunction
from samlocal.periodic import create_periodic_schedules
from samlocal.provision import (
    create_buckets,
    create_queues,
    create_roles,
    create_schedule_groups,
    create_tables,
    create_user_pools,
)
from samlocal.runtime_log import RuntimeLog
from samlocal.scheduler import Clock, Firing, ScheduleRunner, target_event
from samlocal.sqs_poller import SqsEventSource, SqsPoller
from samlocal.strict import RUNTIME_AGENT, Faults
from samlocal.template import (
    API_TYPE,
    DEFAULT_STACK,
    FUNCTION_TYPES,
    USER_POOL_TYPE,
    Template,
    TemplateError,
)

log = logging.getLogger(__name__)

# moto keeps one state per process, shared by every LocalRuntime in it.
_live_lock = threading.Lock()
_live: set[int] = set()

_DUMMY_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
# The embedded moto derives user pool and client ids from what creates them, so a reset() (which creates
# them again) gives the same ids the functions were configured with.
_STABLE_COGNITO_IDS = {
    "MOTO_COGNITO_IDP_USER_POOL_ID_STRATEGY": "HASH",
    "MOTO_COGNITO_IDP_USER_POOL_CLIENT_ID_STRATEGY": "HASH",
}
# Powertools offline: no X-Ray daemon, no CloudWatch metrics flush.
_OFFLINE = {"POWERTOOLS_TRACE_DISABLED": "true", "POWERTOOLS_METRICS_DISABLED": "true"}
# Removed while the stack runs so no real AWS profile or session leaks into the functions.
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
# The runtime's own clients (pollers, scheduler, inspection): strict mode never faults them.
_RUNTIME_CONFIG = Config(user_agent_extra=RUNTIME_AGENT)


class LocalRuntime:
    """Provision `template_path` on an embedded moto server and run its functions in-process.

    visibility_timeout (seconds) overrides every queue's VisibilityTimeout, so a failed message comes
    back quickly in local runs and tests. background=True runs the SQS pollers in threads, each
    long-polling `long_poll_seconds` (also how long close() may wait for them); background=False
    leaves polling to drain(). schedule_interval (seconds) starts a ticker that fires due schedules;
    without it, call fire_due_schedules() or drain(schedules=True).
    strict=True enforces AWS's limits on the embedded AWS and ends each invocation at its function's
    Timeout (`stack.timeouts()` counts them; an SQS batch then returns to its queue); `faults` (a Faults, or rates by kind),
    seeded by fault_seed, are injected whatever `strict` says and can be changed while running
    through `stack.faults` (see strict.py). aws_endpoint_url uses that existing AWS-compatible
    endpoint instead of starting one (with strict or faults, behind a local proxy that applies them);
    only this stack's resources are created there and deleted on close. `stack.log` keeps what was
    logged at WARNING and above while it ran.
    One LocalRuntime per process at a time: moto keeps its state per process.
    """

    def __init__(
        self,
        template_path: str | Path = "template.yaml",
        *,
        api_port: int = 0,
        aws_port: int = 0,
        parameters: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        visibility_timeout: int | None = None,
        background: bool = True,
        stack_name: str = DEFAULT_STACK,
        schedule_interval: float | None = None,
        poll_interval: float = 0.05,
        long_poll_seconds: int = 1,
        strict: bool = False,
        faults: Faults | Mapping[str, float] | None = None,
        fault_seed: int = 0,
        aws_endpoint_url: str | None = None,
    ) -> None:
        self.template = Template(template_path, stack_name=stack_name, parameters=parameters)
        self.clock = clock or Clock()
        self.api_port, self.aws_port = api_port, aws_port
        self.extra_env = dict(env or {})
        self.visibility_timeout = visibility_timeout
        self.background = background
        self.schedule_interval = schedule_interval
        self.poll_interval = poll_interval
        self.long_poll_seconds = long_poll_seconds
        self.strict = strict
        self.faults = faults if isinstance(faults, Faults) else Faults(faults, seed=fault_seed)
        self.external_aws = aws_endpoint_url.rstrip("/") if aws_endpoint_url else None
        self.log = RuntimeLog()
        self.functions = FunctionRegistry([])
        self.function_env: dict[str, dict[str, str]] = {}
        self.pollers: list[SqsPoller] = []
        self._queue_urls: dict[str, str] = {}
        self._tables: dict[str, str] = {}
        self.buckets: dict[str, str] = {}  # logical id -> name
        self.user_pools: dict[str, str] = {}  # logical id -> id (user pools and their app clients)
        self._groups: dict[str, str] = {}
        self._roles: dict[str, str] = {}
        self._moto: EmbeddedAws | None = None
        self._proxy: EmbeddedAws | None = None
        self._api: ApiServer | None = None
        self._runner: ScheduleRunner | None = None
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._saved_env: dict[str, str | None] = {}
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        self.aws_url = ""
        self.api_url = ""

    # ----- lifecycle -----

    def __enter__(self) -> LocalRuntime:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def start(self) -> LocalRuntime:
        self._validate()  # before any server starts: a bad template fails fast
        self.log.attach()
        try:
            self._start_aws()
            self._provision()
            self._load_functions()
            self.log.attach()  # again: the functions' own loggers (Powertools) exist now
            self._groups["PeriodicWork"] = create_periodic_schedules(
                self.boto3_client("scheduler"), self.template.stack_name, self.functions
            )
            self._api = ApiServer(
                routes_of(list(self.functions), self._api_ids()), self.api_port, cors=self._api_cors()
            )
            self._api.start()
            self.api_url = self._api.url
            self._runner = ScheduleRunner(
                self.boto3_client("scheduler"),
                self.clock,
                self._deliver,
                groups=[*self._groups.values(), "default"],
                owns=self._owns_target,
                periodic_groups=frozenset({self._groups["PeriodicWork"]}),
            )
            self.pollers = [
                SqsPoller(s, self._new_client("sqs"), self.template.region) for s in self._sources()
            ]
            if self.background:
                for poller in self.pollers:
                    poller.wait_seconds = self.long_poll_seconds
                    self._spawn(f"sqs-{poller.source.function.spec.logical_id}", self._poll_loop, poller)
            if self.schedule_interval:
                self._spawn("scheduler", self._tick_loop)
        except BaseException:
            self.close()
            raise
        log.info("local stack up: API %s, AWS %s", self.api_url, self.aws_url)
        return self

    def reset(self) -> None:
        """Start from nothing on the same endpoints: every table, queue, bucket and schedule the template
        declares emptied (recreated under the same names), the clock on real time; fault rates are kept.

        For a test session that keeps one stack: each module starts as a fresh deployment would, and no
        module pays for what earlier ones stored (moto's scans and index queries grow with its tables).
        Only for the embedded AWS, and only when no other stack in this process shares it.
        """
        with _live_lock:
            alone = _live == {id(self)}
        if self._moto is None or not alone:
            raise RuntimeError("reset() needs this stack's own embedded AWS")
        # real time first: a schedule made while the clock still read a driven instant (a year ahead, say)
        # would be anchored there, and periodic work would not fire again until the clock came back to it
        self.clock.run_real_time()
        self._reset_moto()
        self._provision()
        self._groups["PeriodicWork"] = create_periodic_schedules(
            self.boto3_client("scheduler"), self.template.stack_name, self.functions
        )
        self.faults.reset_counts()

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        for function in self.functions:
            function.close()
        if self._api:
            self._api.stop()
            self._api = None
        self._clients.clear()
        if self._moto:
            with _live_lock:
                _live.discard(id(self))
                last = not _live
            if last:
                self._reset_moto()
            else:
                self._delete_own_resources()  # another stack in this process still uses moto
            self._moto.stop()
            self._moto = None
        elif self.external_aws and self.aws_url:
            self._delete_own_resources()  # someone else's endpoint: leave everything else as it was
            self.aws_url = ""
        if self._proxy:
            self._proxy.stop()
            self._proxy = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env.clear()
        self.log.detach()

    # ----- what others call -----

    def boto3_client(self, service: str) -> Any:
        """A client for the embedded AWS (cached per service; boto3 clients are thread-safe)."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self._new_client(service)
            return self._clients[service]

    def _new_client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.aws_url,
            region_name=self.template.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=_RUNTIME_CONFIG,
        )

    def invoke(self, function_name_or_arn: str, event: Any) -> Any:
        """Invoke a function by logical id, name or ARN, as a synchronous (RequestResponse) call."""
        return self.functions.get(function_name_or_arn).invoke(event, _arn_or_none(function_name_or_arn))

    def timeouts(self) -> dict[str, int]:
        """Invocations stopped at their Timeout (strict mode), by function logical id: those that had any."""
        return {f.spec.logical_id: f.timeouts for f in self.functions if f.timeouts}

    def queue_url(self, logical_id: str) -> str:
        return self._queue_urls[logical_id]

    def table_name(self, logical_id: str) -> str:
        return self._tables[logical_id]

    def bucket_name(self, logical_id: str) -> str:
        return self.buckets[logical_id]

    def function_arn(self, logical_id: str) -> str:
        return self.functions.get(logical_id).spec.arn

    def fire_due_schedules(self, *, periodic: bool = False) -> list[Firing]:
        """Fire what is due on the clock; the firings returned leave periodic work out unless `periodic`."""
        assert self._runner is not None, "start() first"
        return self._runner.fire_due(periodic=periodic)

    def next_schedule_due(self) -> datetime | None:
        assert self._runner is not None, "start() first"
        return self._runner.next_due()

    def drain(self, timeout: float = 60.0, *, schedules: bool = False) -> None:
        """Process until every event-source queue is empty and no batch is in flight.

        With schedules=True, due schedules fire on each pass too. Raises TimeoutError naming
        what is still pending when `timeout` seconds pass.
        """
        deadline = time.monotonic() + timeout
        # Idle twice running, a poll interval apart: a queue's counts are not one snapshot (a message can
        # turn visible, or be received by a background poller, between them), but a message caught between
        # counts is pending or in flight on the next pass.
        quiet = False
        while True:
            activity = self._activity()
            worked = 0
            if schedules:
                worked += len(self.fire_due_schedules())
            if not self.background:
                worked += sum(poller.poll_once() for poller in self.pollers)
            pending = self._pending()
            idle = not worked and not pending and activity == self._activity() and not self._in_flight()
            if idle and quiet:
                return
            quiet = idle
            if time.monotonic() > deadline:
                raise TimeoutError(f"drain: still pending after {timeout}s: {pending or 'batches in flight'}")
            if not worked:
                time.sleep(self.poll_interval)

    run_until_idle = drain

    # ----- start-up -----

    def _validate(self) -> None:
        problems = self.template.undeclared_references()
        for logical_id in self.template.of_type(*FUNCTION_TYPES):
            try:
                function = LocalFunction(self.template.function(logical_id), {})
                function.check_files()
                problems += self._event_source_problems(function)
            except TemplateError as exc:
                problems.append(str(exc))
        if problems:
            raise TemplateError(f"{self.template.path.name} cannot run locally:\n  " + "\n  ".join(problems))

    def _event_source_problems(self, function: LocalFunction) -> list[str]:
        problems = []
        for event_name, event in function.spec.events.items():
            if event.get("Type") != "SQS":
                continue
            queue = (event.get("Properties") or {}).get("Queue")
            if not isinstance(queue, str) or self.template.queue_for_arn(queue) is None:
                problems.append(
                    f"Resources.{function.spec.logical_id}.Properties.Events.{event_name}: "
                    f"queue {queue} is not declared in the template"
                )
        return problems

    def _start_aws(self) -> None:
        if self.external_aws and (self.strict or any(self.faults.rates.values())):
            # Strict mode in front of someone else's endpoint: the door on a forwarding proxy to it.
            self._proxy = EmbeddedAws(
                self.aws_port, limits=self.strict, faults=self.faults, upstream=self.external_aws
            )
            self._proxy.start()
            self.aws_url = self._proxy.url
        elif self.external_aws:
            self.aws_url = self.external_aws
        else:
            werkzeug = logging.getLogger("werkzeug")
            if werkzeug.level == logging.NOTSET:
                werkzeug.setLevel(logging.WARNING)  # moto's request lines: quiet unless asked for
            atomic_dynamodb.install()
            fast_dynamodb.install()
            for key, value in _STABLE_COGNITO_IDS.items():
                self._saved_env.setdefault(key, os.environ.get(key))
                os.environ[key] = value
            self._moto = EmbeddedAws(self.aws_port, limits=self.strict, faults=self.faults)
            self._moto.start()
            self.aws_url = self._moto.url
            with _live_lock:
                alone = not _live
                _live.add(id(self))
            if alone:
                self._reset_moto()  # start from nothing, unless another stack here is using moto
        self.template.aws_url = self.aws_url
        environ.install()
        shared = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_DEFAULT_REGION": self.template.region,
            "AWS_REGION": self.template.region,
            **_DUMMY_CREDENTIALS,
            **_OFFLINE,
        }
        for key in (*shared, *_UNSET):
            self._saved_env.setdefault(key, os.environ.get(key))
        for key in _UNSET:
            os.environ.pop(key, None)
        os.environ.update(shared)

    def _reset_moto(self) -> None:
        request = urllib.request.Request(f"{self.aws_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as reply:
            reply.read()

    def _provision(self) -> None:
        # Deleted on close whether created or found: on an external endpoint, a crashed run's leftovers.
        reuse = bool(self.external_aws)
        self._tables = create_tables(self.template, self.boto3_client("dynamodb"), exist_ok=reuse)
        self.buckets = create_buckets(self.template, self.boto3_client("s3"), exist_ok=reuse)
        self._queue_urls = create_queues(
            self.template, self.boto3_client("sqs"), visibility_timeout=self.visibility_timeout
        )
        self._groups = create_schedule_groups(self.template, self.boto3_client("scheduler"), exist_ok=reuse)
        self._roles = create_roles(self.template, self.boto3_client("iam"), exist_ok=reuse)
        self.user_pools = create_user_pools(self.template, self.boto3_client("cognito-idp"))

    def _delete_own_resources(self) -> None:
        dynamodb, sqs = self.boto3_client("dynamodb"), self.boto3_client("sqs")
        scheduler, iam = self.boto3_client("scheduler"), self.boto3_client("iam")
        deletions: list[Callable[[], Any]] = [
            partial(dynamodb.delete_table, TableName=t) for t in self._tables.values()
        ]
        deletions += [partial(sqs.delete_queue, QueueUrl=url) for url in self._queue_urls.values()]
        deletions += [partial(scheduler.delete_schedule_group, Name=g) for g in self._groups.values()]
        cognito = self.boto3_client("cognito-idp")
        for logical_id, pool_id in self.user_pools.items():
            if logical_id in self.template.of_type(USER_POOL_TYPE):
                deletions.append(partial(cognito.update_user_pool, UserPoolId=pool_id, DeletionProtection="INACTIVE"))
                deletions.append(partial(cognito.delete_user_pool, UserPoolId=pool_id))
        for logical_id in self._roles:
            role = self.template.physical_name(logical_id)
            for policy in iam.list_role_policies(RoleName=role)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role, PolicyName=policy)
            deletions.append(partial(iam.delete_role, RoleName=role))
        for delete in deletions:
            try:
                delete()
            except ClientError as exc:
                log.warning("clean-up: %s", exc)

    def _load_functions(self) -> None:
        runtime_env = {
            "AWS_ENDPOINT_URL": self.aws_url,
            "AWS_DEFAULT_REGION": self.template.region,
            "AWS_REGION": self.template.region,
            **_DUMMY_CREDENTIALS,
            **_OFFLINE,
        }
        functions = []
        for logical_id in self.template.of_type(*FUNCTION_TYPES):
            spec = self.template.function(logical_id)
            env = {**spec.environment, **self.extra_env, **runtime_env}
            function = LocalFunction(spec, env, enforce_timeout=self.strict)
            function.load()
            functions.append(function)
            self.function_env[logical_id] = dict(function.env)
        self.functions = FunctionRegistry(functions)
        self._share_common_env()

    def _share_common_env(self) -> None:
        """Variables every function agrees on also go into the process env, for threads a handler starts."""
        envs = list(self.function_env.values())
        if not envs:
            return
        common = {k: v for k, v in envs[0].items() if all(e.get(k) == v for e in envs[1:])}
        common = {k: v for k, v in common.items() if not k.startswith(("AWS_LAMBDA_", "LAMBDA_"))}
        for key in common:
            self._saved_env.setdefault(key, os.environ.get(key))
        os.environ.update(common)

    def _api_ids(self) -> dict[str, str]:
        return {
            self.template.ref(logical): self.template.api_id(logical)
            for logical in self.template.of_type(API_TYPE)
        }

    def _api_cors(self) -> dict[str, Cors]:
        """Each HttpApi's CorsConfiguration, by api id."""
        rules: dict[str, Cors] = {}
        for logical in self.template.of_type(API_TYPE):
            cors = Cors.from_config(self.template.resolved_properties(logical).get("CorsConfiguration"))
            if cors is not None:
                rules[self.template.api_id(logical)] = cors
        return rules

    def _sources(self) -> list[SqsEventSource]:
        sources = []
        for function in self.functions:
            for event_name, event in function.spec.events.items():
                props = event.get("Properties") or {}
                if event.get("Type") != "SQS" or props.get("Enabled", True) is False:
                    continue
                queue = self.template.queue_for_arn(props["Queue"])
                assert queue is not None  # checked by _validate
                sources.append(
                    SqsEventSource(
                        function=function,
                        event_name=event_name,
                        queue_logical_id=queue,
                        queue_url=self._queue_urls[queue],
                        queue_arn=props["Queue"],
                        batch_size=int(props.get("BatchSize", 10)),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                    )
                )
        return sources

    # ----- background work -----

    def _spawn(self, name: str, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_loop(self, poller: SqsPoller) -> None:
        # Long polls (poller.wait_seconds) keep an idle stack idle; the short wait lets close() finish soon.
        while not self._stop.is_set():
            try:
                received = poller.poll_once()
            except Exception:
                if self._stop.is_set():
                    return  # the endpoint went away under a poll in progress: closing anyway
                log.exception("polling %s failed", poller.source.queue_arn)
                received = 0
            if not received and not poller.wait_seconds:
                self._stop.wait(self.poll_interval)

    def _tick_loop(self) -> None:
        assert self.schedule_interval is not None
        while not self._stop.wait(self.schedule_interval):
            try:
                self.fire_due_schedules()
            except Exception:
                log.exception("firing schedules failed")

    def _owns_target(self, arn: str) -> bool:
        if arn.startswith("arn:aws:sqs:"):
            return self.template.queue_for_arn(arn) is not None
        try:
            self.functions.get(arn)
        except KeyError:
            return False
        return True

    def _deliver(self, target: dict[str, Any]) -> None:
        arn = str(target["Arn"])
        if arn.startswith("arn:aws:lambda:"):
            self.functions.get(arn).invoke(target_event(target), arn)
        elif arn.startswith("arn:aws:sqs:"):
            url = self._queue_urls[str(self.template.queue_for_arn(arn))]
            extra = {k: v for k, v in (target.get("SqsParameters") or {}).items() if k == "MessageGroupId"}
            self.boto3_client("sqs").send_message(
                QueueUrl=url, MessageBody=target.get("Input") or "{}", **extra
            )
        else:
            raise ValueError(f"target {arn}: the local runtime delivers to Lambda and SQS only")

    # ----- idle detection -----

    def _activity(self) -> int:
        return sum(poller.activity for poller in self.pollers)

    def _in_flight(self) -> int:
        return sum(poller.in_flight for poller in self.pollers)

    def _pending(self) -> dict[str, int]:
        # Asked in two calls, in the order a message moves (delayed or in flight, then visible): moto counts
        # the visible first in one answer, so a message that turns visible between its counts is in neither.
        sqs = self.boto3_client("sqs")
        counts = {}
        for logical in {poller.source.queue_logical_id for poller in self.pollers}:
            url = self._queue_urls[logical]
            count = 0
            for names in (PENDING_LATER, ["ApproximateNumberOfMessages"]):
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
                count += sum(int(attributes.get(name, 0)) for name in names)
            if count:
                counts[logical] = count
        return counts


PENDING_LATER = ["ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]


def _arn_or_none(name_or_arn: str) -> str | None:
    return name_or_arn if name_or_arn.startswith("arn:") else None
