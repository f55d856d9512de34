"""What the orchestration needs from the outside world, as `typing.Protocol`s.

The boto3 adapters in `pushengine.dal` (and `delivery.provider_pool.ProviderPool`) satisfy these structurally;
`tests/fakes.py` implements them in memory with the same condition semantics (ledger writes that succeed
once, checkpoints that never overwrite a recorded batch, wave counts guarded by status), so the
orchestration in `delivery/segment.py`, `delivery/sending.py`, `campaigns.py` and `events.py` is unit-tested
without a network. A dependency typed by a port takes a fake without a `cast`.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from pushengine import pacing
from pushengine.providers.base import PushProvider
from pushengine.readplan import KeyRange

Clock = Callable[[], datetime]  # the domain's "now" (UTC, aware)


class CampaignStore(Protocol):
    """Campaign definitions, their progress counters and stats, and the ledger items that keep each
    counted message counted once (`dal.campaigns.CampaignsRepository`).

    Reads answer plain values (int or float, lists), a definition's `spec` parsed into
    `models.CampaignSpec` (`dal.campaigns.parsed`); writes take plain values, `spec` as a dict."""

    def create(self, item: dict[str, Any]) -> None: ...

    def get(
        self, app_id: str, campaign_id: str, *, consistent: bool = False, summed: bool = True
    ) -> dict[str, Any] | None: ...

    def progress(self, app_id: str, campaign_id: str) -> dict[str, Any] | None:
        """Status and counters, the counter shards summed in."""
        ...

    def definition(
        self, app_id: str, campaign_id: str, *, consistent: bool = False
    ) -> dict[str, Any] | None: ...

    def list(
        self, app_id: str, *, limit: int, next_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]: ...

    def set_status(
        self, app_id: str, campaign_id: str, status: str, *, allowed_from: tuple[str, ...]
    ) -> bool: ...

    def replan(self, app_id: str, campaign_id: str, waves: int) -> bool: ...

    def replace_definition(self, definition: dict[str, Any]) -> None: ...

    def settle_experiment(self, definition: dict[str, Any], waves: int) -> bool:
        """Write an experiment's decided definition and count `waves` rest waves pending (less the decision
        itself) once; False if it was already decided."""
        ...

    def mark_wave_fired(self, app_id: str, campaign_id: str, wave_id: str, tasks: int) -> bool:
        """Count a wave's tasks once; False if already counted or the campaign left scheduled/sending."""
        ...

    def record(
        self,
        app_id: str,
        campaign_id: str,
        ledger_key: str,
        *,
        stats: Mapping[str, int | float] | None = None,
        variant_stats: Mapping[str, Mapping[str, int | float]] | None = None,
        counters: Mapping[str, int] | None = None,
        ledger: Mapping[str, Any] | None = None,
        errors: Mapping[str, int] | None = None,
        shard: int | None = None,
        hour: str | None = None,
        run: str | None = None,
        marks: Sequence[str] = (),
    ) -> bool:
        """Add stats and counters guarded by the ledger item `ledger_key`: False if it was already done.
        `marks`: more ledger keys written done with it (unguarded)."""
        ...

    def runs(self, app_id: str, campaign_id: str, run_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def series(self, app_id: str, campaign_id: str, run: str | None = None) -> builtins.list[dict[str, Any]]:
        """The time series `record(hour=...)` added to (of one run, with `run`), oldest hour first, as
        `{"hour", "stats", "vstats"}` with each hour's write shards summed."""
        ...

    def add_run(self, app_id: str, campaign_id: str, run: str) -> None: ...

    def reserve_slots(
        self, app_id: str, campaign_id: str, timeline: str, count: int, origin: float
    ) -> tuple[int, float]:
        """The first of `count` consecutive slots of a pacing timeline (delivery/pace.py), and its origin
        (set by the timeline's first reservation to its `origin`)."""
        ...

    def fix_plan(self, key: str, cursors: int) -> int:
        """The first writer's cursor count for `key` wins; every caller reads it back."""
        ...

    def try_complete(self, app_id: str, campaign_id: str, *, shard: int | None = None) -> bool: ...

    def checkpoint(self, key: str) -> dict[str, Any] | None: ...

    def checkpoints(self, keys: builtins.list[str]) -> dict[str, dict[str, Any]]: ...

    def save_checkpoint(self, key: str, fields: dict[str, Any]) -> None:
        """Written unless the batch is already recorded (its ledger item is kept)."""
        ...

    def store_deferred(self, key: str, batch: dict[str, Any]) -> None: ...

    def load_deferred(self, key: str) -> dict[str, Any] | None: ...


class DeviceStore(Protocol):
    """Devices and the zone registry (`dal.devices.DevicesRepository`). Device items come back as plain JSON
    values (numbers int or float, sets as sorted lists), converted once, in the adapter."""

    def get(self, app_id: str, device_id: str) -> dict[str, Any] | None: ...

    def get_many(self, app_id: str, device_ids: list[str]) -> dict[str, dict[str, Any]]: ...

    def of_user(self, app_id: str, user_id: str, *, limit: int) -> list[dict[str, Any]]: ...

    def mark_invalid(self, app_id: str, device_ids: Iterable[str], reason: str = "") -> None: ...

    def forget_push_to_start(self, app_id: str, device_id: str, token: str) -> bool: ...

    def zones(self, app_id: str) -> list[str]: ...

    def zone_sizes(self, app_id: str) -> dict[str, int]:
        """The zone registry with each zone's device count (the same read as `zones`)."""
        ...

    def zone_size(self, app_id: str, zone: str) -> int: ...

    def partition_page(
        self, app_id: str, zone: str, key_range: KeyRange | None = None, *, limit: int,
        start: dict[str, Any] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:  # fmt: skip
        """One page of a zone's devices (in one key range of it, or all) and where the next starts."""
        ...


class Queue(Protocol):
    """SQS fan-out (`dal.queues.SqsQueue`): JSON bodies, each within `max_message` bytes, each optionally
    held back `delays[i]` seconds (at most 900)."""

    def send_json(
        self,
        queue_url: str,
        bodies: Sequence[dict[str, Any]],
        *,
        delays: Sequence[int] | None = None,
        max_message: int = 262_144,
    ) -> int: ...


class Scheduler(Protocol):
    """One-time schedules (`dal.scheduler.WaveScheduler`): `payload` reaches the segment query at `at`."""

    def create(self, name: str, at: datetime, payload: dict[str, Any]) -> None: ...

    def delete(self, name: str) -> bool: ...

    def exists(self, name: str) -> bool: ...


class CapRule(NamedTuple):
    """One frequency cap: at most `max` sends to a device in `per_hours`. `campaign_id` set: only that
    campaign's own sends count (its `frequency_cap`, as Pinpoint's campaign limits: every run of a recurring
    campaign, every triggered send of it); None: every capped send of the app counts (the app-wide cap)."""

    max: int
    per_hours: int
    campaign_id: str | None = None
    scope: str = "device"  # "user": the sends to all of the device's user's devices count together

    def counts(self, send_id: str) -> bool:
        """Whether a recorded send (`campaign`, `campaign.run` or `campaign.device.generation`) counts."""
        return self.campaign_id is None or send_id.split(".", 1)[0] == self.campaign_id


def cap_subjects(
    app_id: str, device_id: str, send_id: str, limits: list[CapRule], user_id: str | None
) -> dict[str, tuple[str, list[CapRule]]]:
    """Where each rule of a send counts: {cap item key: (the entry this send records there, its rules)}. A
    user's item records which device each send went to, so a redelivery is told from a sibling's send; a
    device without a user is its own user."""
    subjects: dict[str, tuple[str, list[CapRule]]] = {}
    for rule in limits:
        if rule.scope == "user" and user_id:
            pk, entry = user_cap_key(app_id, user_id), f"{device_id}|{send_id}"
        else:
            pk, entry = device_cap_key(app_id, device_id), send_id
        subjects.setdefault(pk, (entry, []))[1].append(rule)
    return subjects


def device_cap_key(app_id: str, device_id: str) -> str:
    return f"cap#{app_id}#{device_id}"


def user_cap_key(app_id: str, user_id: str) -> str:
    return f"capu#{app_id}#{user_id}"


def recorded_send(recorded: str) -> tuple[str, str, int]:
    """A cap item's entry (`send@at`, or `device|send@at` in a user's item): (entry, send id, at)."""
    entry, at = recorded.rsplit("@", 1)
    return entry, send_of(entry), int(at)


def send_of(entry: str) -> str:
    """The send id of an entry `cap_subjects` records (`send`, or `device|send`)."""
    return entry.rsplit("|", 1)[-1]


class CapStore(Protocol):
    """Frequency caps (`dal.caps.FrequencyCaps`)."""

    def allow_within(
        self, app_id: str, device_id: str, send_id: str, limits: list[CapRule], *, user_id: str | None = None
    ) -> bool: ...


class ErasureLog(Protocol):
    """When an app last erased a user (`dal.erasures.ErasureMarks`)."""

    def last(self, app_id: str) -> float: ...


class Providers(Protocol):
    """Warm provider clients per app and platform (`delivery.provider_pool.ProviderPool`)."""

    async def get(self, app_id: str, platform: str) -> PushProvider | None: ...

    def lane(self, app_id: str, entry: dict[str, Any], *, transactional: bool) -> pacing.Lane | None: ...
