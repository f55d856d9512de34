"""The composition root (after cosmicpython's `bootstrap.py`): every repository and client of a function,
made once from its `Settings`, on first use. Nothing below it reads the environment's settings: route
`Deps` and the `default_deps()` of the queue handlers are views of it, and each adapter takes its table
names and clients as constructor arguments.

One root per function: in Lambda each function is a process of its own; the local runtime runs them all in
one process, each with its own environment (`AWS_LAMBDA_FUNCTION_NAME` among it), so the root is kept per
function name, and a function's containers never share another's caches. `reset()` forgets them all (a test
tier that ran in another environment)."""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property, lru_cache
from typing import Any, Generic, TypeVar, overload
from weakref import WeakKeyDictionary

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from pushengine.config import Settings, settings
from pushengine.console_users import IdTokenVerifier
from pushengine.dal.apps import AppsRepository, SecretsStore
from pushengine.dal.audit import AuditRepository
from pushengine.dal.automation import AutomationRepository
from pushengine.dal.campaigns import CampaignsRepository
from pushengine.dal.caps import FrequencyCaps
from pushengine.dal.console_pool import ConsolePool, console_verifier
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.erasures import ErasureMarks, ErasureStore
from pushengine.dal.event_rate import EventRate
from pushengine.dal.export import EventExport
from pushengine.dal.idempotency import persistence
from pushengine.dal.jobs import JobsRepository
from pushengine.dal.live_activities import LiveActivityStore
from pushengine.dal.opt_in import OptInRepository
from pushengine.dal.profiles import ProfilesRepository
from pushengine.dal.queues import SqsQueue
from pushengine.dal.quota import QuotaLedger
from pushengine.dal.scheduler import WaveScheduler
from pushengine.dal.segments import SegmentsRepository
from pushengine.dal.templates import TemplatesRepository
from pushengine.dal.timeseries import TimeseriesRepository
from pushengine.delivery.provider_pool import ProviderPool
from pushengine.journeys.store import DynamoJourneyStore

T = TypeVar("T")


class Adapters:
    """A function's adapters, each made once from `settings` when first asked for."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._views: WeakKeyDictionary[object, dict[str, Any]] = WeakKeyDictionary()  # what `view`s made

    @cached_property
    def apps(self) -> AppsRepository:
        return AppsRepository(self.settings.apps_table, cache_seconds=self.settings.apps_cache_seconds)

    @cached_property
    def secrets(self) -> SecretsStore:
        return SecretsStore(self.settings.secrets_prefix)

    @cached_property
    def devices(self) -> DevicesRepository:
        s = self.settings
        return DevicesRepository(s.devices_table, s.zones_table, s.shard_count)

    @cached_property
    def profiles(self) -> ProfilesRepository:
        return ProfilesRepository(self.settings.devices_table, self.settings.audience_table)

    @cached_property
    def timeseries(self) -> TimeseriesRepository:
        return TimeseriesRepository(self.settings.analytics_table)

    @cached_property
    def campaigns(self) -> CampaignsRepository:
        s = self.settings
        return CampaignsRepository(s.campaigns_table, s.delivery_state_table, self.timeseries)

    @cached_property
    def segments(self) -> SegmentsRepository:
        return SegmentsRepository(self.settings.audience_table)

    @cached_property
    def templates(self) -> TemplatesRepository:
        return TemplatesRepository(self.settings.audience_table)

    @cached_property
    def automation(self) -> AutomationRepository:
        return AutomationRepository(self.settings.automation_table)

    @cached_property
    def journeys(self) -> DynamoJourneyStore:
        return DynamoJourneyStore(self.settings.automation_table)

    @cached_property
    def activities(self) -> LiveActivityStore:
        return LiveActivityStore(self.settings.automation_table)

    @cached_property
    def jobs(self) -> JobsRepository:
        return JobsRepository(self.settings.delivery_state_table)

    @cached_property
    def caps(self) -> FrequencyCaps:
        return FrequencyCaps(self.settings.delivery_state_table)

    @cached_property
    def quotas(self) -> QuotaLedger:
        return QuotaLedger(self.settings.delivery_state_table)

    @cached_property
    def erasure_marks(self) -> ErasureMarks:
        return ErasureMarks(self.settings.delivery_state_table)

    @cached_property
    def erasure_store(self) -> ErasureStore:
        s = self.settings
        return ErasureStore(s.delivery_state_table, s.campaigns_table, s.automation_table)

    @cached_property
    def opt_in(self) -> OptInRepository:
        return OptInRepository(self.settings.delivery_state_table, self.settings.analytics_table)

    @cached_property
    def event_rate(self) -> EventRate:
        return EventRate(self.settings.delivery_state_table)

    @cached_property
    def export(self) -> EventExport:
        return EventExport(self.settings.event_export)

    @cached_property
    def audit(self) -> AuditRepository | None:
        """None when the stack keeps no audit log."""
        return AuditRepository(self.settings.audit_table) if self.settings.audit_table else None

    @cached_property
    def scheduler(self) -> WaveScheduler:
        s = self.settings
        return WaveScheduler(s.schedule_group, s.scheduler_role_arn, s.segment_query_function_arn)

    @cached_property
    def queue(self) -> SqsQueue:
        return SqsQueue()

    @cached_property
    def idempotency(self) -> DynamoDBPersistenceLayer:
        return persistence(self.settings.idempotency_table)

    @cached_property
    def console_pool(self) -> ConsolePool:
        return ConsolePool(self.settings.console_user_pool_id, self.settings.console_client_id)

    @property
    def console_verifier(self) -> IdTokenVerifier:
        s = self.settings
        return console_verifier(s.aws_region, s.console_user_pool_id, s.console_client_id)  # one per pool

    @cached_property
    def webpush_hosts(self) -> list[str]:
        """The Web Push allow-list a subscription's endpoint must be on."""
        return self.settings.allowed_webpush_hosts

    def provider_pool(self) -> ProviderPool:
        """A new pool: its clients and tokens belong to the event loop that uses them (one per sender thread)."""
        return ProviderPool(self.settings, self.apps, self.secrets)


@lru_cache(maxsize=32)
def _root(function_name: str) -> Adapters:
    return Adapters(settings())


def adapters() -> Adapters:
    """The calling function's adapters."""
    return _root(os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""))


def reset() -> None:
    """Forget every function's adapters and settings: the next use reads the environment again."""
    _root.cache_clear()


class view(Generic[T]):
    """An attribute of a `Deps` class made from the function's adapters, once per root (so `reset()` reaches
    it too); a test may assign over it on an instance (`deps.apps = fake`), as over a cached_property."""

    def __init__(self, make: Callable[[Any, Adapters], T]) -> None:
        self._make = make
        self._name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> view[T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> T: ...
    def __get__(self, instance: object | None, owner: type | None = None) -> view[T] | T:
        if instance is None:
            return self
        root = adapters()
        made = root._views.setdefault(instance, {})
        if self._name not in made:
            made[self._name] = self._make(instance, root)
        return made[self._name]  # type: ignore[no-any-return]
