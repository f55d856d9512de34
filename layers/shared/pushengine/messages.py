"""Direct sends: one message to named users or devices (≤ 1,000 recipients), straight to the send queue.

No partition is read: recipients are found through the user index and by id, decided once (opt-in, quiet
hours: the device's own, else the app's default) and packed into send batches the sender already knows; a
marketing send's batches carry the app-wide cap as a campaign's do (transactional ignores both). A message
is stored like a campaign (its definition and progress items, id `msg_...`), so the sender, checkpoints,
stats and completion are shared; each batch asks the sender to keep its per-device outcomes in its ledger
item, which GET reads back (at most 1,000 devices: a bounded read of a few ledger items).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pushengine import app_settings, compose
from pushengine.campaign_status import CampaignStatus
from pushengine.config import Settings
from pushengine.content import Message
from pushengine.dal.apps import AppsRepository, now_iso
from pushengine.dal.campaigns import batch_key, zero_stats
from pushengine.dal.queues import send_json
from pushengine.delivery.segment import device_entry, split_to_fit
from pushengine.errors import InvalidInput, NotFound
from pushengine.limits import Storable
from pushengine.models import CampaignSpec, DeviceId, FrequencyCap, UserId
from pushengine.ports import CampaignStore, DeviceStore, Scheduler
from pushengine.profiles import MAX_USER_DEVICES
from pushengine.queue_messages import ReleaseDue
from pushengine.targeting import DEFAULT_VARIANT, Targeting

MAX_RECIPIENTS = 1000
MESSAGE_PREFIX = "msg_"
Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)
DataValue = Annotated[Annotated[str, StringConstraints(max_length=1024)] | bool | int | float, Storable]


class Recipients(BaseModel):
    model_config = Strict
    user_ids: Annotated[list[UserId], Field(max_length=MAX_RECIPIENTS)] | None = None
    device_ids: Annotated[list[DeviceId], Field(max_length=MAX_RECIPIENTS)] | None = None

    @model_validator(mode="after")
    def _some(self) -> Recipients:
        total = len(self.user_ids or []) + len(self.device_ids or [])
        if total == 0:
            raise ValueError("to: name at least one user_id or device_id")
        if total > MAX_RECIPIENTS:
            raise ValueError(f"to: {total} recipients; at most {MAX_RECIPIENTS} in all")
        return self


class MessageIn(BaseModel):
    """A direct send. `data` is what Liquid sees as data.* (e.g. {{ data.order_id }})."""

    model_config = Strict
    to: Recipients
    message: Message | None = None
    template_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    data: Annotated[dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")], DataValue],
                    Field(max_length=50)] | None = None  # fmt: skip
    category: Literal["marketing", "transactional"] = "marketing"
    ttl_seconds: Annotated[int, Field(ge=0, le=28 * 86400)] = 86400
    collapse_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] | None = None
    quiet_hours: Literal["defer", "skip", "ignore"] = "defer"
    frequency_cap: FrequencyCap | None = None

    @model_validator(mode="after")
    def _one_message(self) -> MessageIn:
        if (self.message is None) == (self.template_id is None):
            raise ValueError("message: give exactly one of message and template_id")
        return self


class MessageAccepted(BaseModel):
    message_id: str
    recipients: int  # devices the message is addressed to, after resolving user ids


class RecipientResult(BaseModel):
    device_id: str | None = None
    user_id: str | None = None
    outcome: Literal["queued", "deferred", "sent", "pruned", "failed", "suppressed"]
    reason: str | None = None


class MessageOut(BaseModel):
    message_id: str
    status: str
    created_at: str
    stats: dict[str, Any]
    results: list[RecipientResult]


@dataclass
class MessageDeps:
    settings: Settings
    campaigns: CampaignStore
    devices: DeviceStore
    scheduler: Scheduler
    resolve_template: Callable[[str, str], dict[str, Any]] | None = None  # (app_id, template_id) -> message
    apps: AppsRepository | None = None  # the app's defaults: quiet hours, the app-wide cap


def new_message_id(now: datetime) -> str:
    return f"{MESSAGE_PREFIX}{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"


# The sender's stat names as a recipient's outcome (and its reason).
OUTCOME_OF_STAT: dict[str, tuple[str, str | None]] = {
    "sent": ("sent", None),
    "pruned": ("pruned", None),
    "failed": ("failed", None),
    "suppressed_frequency_cap": ("suppressed", "frequency_cap"),
    "suppressed_quiet_hours": ("suppressed", "quiet_hours"),
    "suppressed_opted_out": ("suppressed", "opted_out"),
    "suppressed_unregistered": ("suppressed", "unregistered"),
}


def _message_body(deps: MessageDeps, app_id: str, body: MessageIn) -> dict[str, Any]:
    if body.template_id is None:
        assert body.message is not None
        return body.message.model_dump(mode="json", exclude_none=True)
    if deps.resolve_template is None:
        raise InvalidInput("templates are not available here", field="body.template_id")
    return deps.resolve_template(app_id, body.template_id)  # raises InvalidInput naming template_id


def send(deps: MessageDeps, app_id: str, body: MessageIn, *, now: datetime | None = None) -> MessageAccepted:
    now = now or datetime.now(UTC)
    message_id = new_message_id(now)
    message = Message.model_validate(_message_body(deps, app_id, body))
    compose.check(message, message_id, prefix="body.message")
    spec: dict[str, Any] = {
        "kind": "message",
        "message": message.model_dump(mode="json", exclude_none=True),
        "category": body.category,
        "ttl_seconds": body.ttl_seconds,
        "quiet_hours": body.quiet_hours,
        **({"template_id": body.template_id} if body.template_id else {}),
        **({"data": body.data} if body.data else {}),
        **({"collapse_id": body.collapse_id} if body.collapse_id else {}),
        **({"frequency_cap": body.frequency_cap.model_dump()} if body.frequency_cap else {}),
    }
    devices, results = _recipients(deps.devices, app_id, body.to)
    typed = CampaignSpec.model_validate(spec)
    defaults = app_settings.load(deps.apps, app_id)
    targeting = Targeting(message_id, typed, audience=None, defaults=defaults)
    policy = app_settings.batch_policy(defaults, typed)  # the app-wide cap, marketing only
    to_send: list[dict[str, Any]] = []
    deferred: dict[datetime, list[dict[str, Any]]] = {}
    stats: Counter[str] = Counter()
    for item in devices:
        device_id = str(item["device_id"])
        stats["targeted"] += 1
        if item.get("status", "active") != "active":
            results.append(_result(device_id, "suppressed_unregistered"))
            stats["suppressed_unregistered"] += 1
            continue
        decision = targeting.decide(item, now)
        if decision.outcome == "send":
            to_send.append(device_entry(item, DEFAULT_VARIANT))
        elif decision.outcome == "defer" and decision.release_at is not None:
            at = (decision.release_at + timedelta(seconds=59)).replace(second=0, microsecond=0)
            deferred.setdefault(at, []).append(device_entry(item, DEFAULT_VARIANT))
            stats["deferred"] += 1
        else:
            results.append(_result(device_id, decision.outcome))
            stats[decision.outcome] += 1
    s = deps.settings
    queued_at = time.time()
    batches = _batches(app_id, message_id, "s", to_send, s.send_batch_size, s.max_message_bytes, queued_at, policy)
    held = [
        (at, batch)
        for at, entries in sorted(deferred.items())
        for batch in _batches(app_id, message_id, f"d{at:%Y%m%d%H%M}", entries, s.send_batch_size,
                              s.max_message_bytes, queued_at, policy)
    ]  # fmt: skip
    pending = len(batches) + len(held)
    item = {
        "app_id": app_id,
        "campaign_id": message_id,
        "name": "direct message",
        "kind": "message",
        "status": CampaignStatus.SENDING if pending else CampaignStatus.COMPLETED,
        "created_at": now_iso(),
        "spec": spec,
        "waves": [],
        "results": results,  # decided here: unknown devices, opted out, skipped for quiet hours
        "batches": {
            b["batch_id"]: [e["id"] for e in b["devices"]] for b in [*batches, *(b for _, b in held)]
        },
        "waves_pending": 0,
        "tasks_pending": 0,
        "batches_pending": pending,
        "stats": {**zero_stats(), **stats},
        "vstats": {DEFAULT_VARIANT: {**zero_stats(), **stats}},
        "errors": {},
    }
    deps.campaigns.create(item)
    send_json(s.send_queue_url, batches, max_message=s.max_message_bytes)
    for at, batch in held:  # released by the segment-query function, like a campaign's deferred batch
        key = f"defer#{message_id}#{batch['batch_id']}"
        deps.campaigns.store_deferred(key, batch)
        name = "d-" + hashlib.blake2b(key.encode(), digest_size=16).hexdigest()
        deps.scheduler.create(name, at, ReleaseDue(app_id=app_id, campaign_id=message_id, key=key).body())
    return MessageAccepted(message_id=message_id, recipients=len(devices))


def _batches(
    app_id: str, message_id: str, prefix: str, entries: list[dict[str, Any]], size: int, max_bytes: int,
    queued_at: float, policy: Mapping[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    out: list[dict[str, Any]] = []
    for i in range(0, len(entries), size):
        batch = {"app_id": app_id, "campaign_id": message_id, "batch_id": f"{prefix}.{i // size}",
                 "devices": entries[i : i + size], "results": True, "queued_at": queued_at, **policy}  # fmt: skip
        out += split_to_fit(batch, max_bytes)
    return out


def _result(device_id: str, stat: str, reason: str | None = None) -> dict[str, Any]:
    outcome, why = OUTCOME_OF_STAT.get(stat, ("failed", stat))
    return {
        "device_id": device_id,
        "outcome": outcome,
        **({"reason": reason or why} if reason or why else {}),
    }


def _recipients(
    devices: DeviceStore, app_id: str, to: Recipients
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The device items the message is addressed to (each once), and results for names that found none."""
    found: dict[str, dict[str, Any]] = {}
    results: list[dict[str, Any]] = []
    for user_id in dict.fromkeys(to.user_ids or []):
        owned = devices.of_user(app_id, user_id, limit=MAX_USER_DEVICES)
        if not owned:
            results.append({"user_id": user_id, "outcome": "failed", "reason": "no device of this user"})
        for item in owned:
            found[str(item["device_id"])] = item
    wanted = list(dict.fromkeys(to.device_ids or []))
    named = devices.get_many(app_id, wanted) if wanted else {}
    for device_id in wanted:
        if device_id in named:
            found[device_id] = named[device_id]
        else:
            results.append({"device_id": device_id, "outcome": "failed", "reason": "no such device"})
    return list(found.values()), results


def get_message(campaigns: CampaignStore, app_id: str, message_id: str) -> MessageOut:
    if not message_id.startswith(MESSAGE_PREFIX):
        raise NotFound("message not found", field="message_id")
    item = campaigns.get(app_id, message_id, consistent=True)
    if item is None:
        raise NotFound("message not found", field="message_id")
    results = list(item.get("results") or [])
    batches: dict[str, list[str]] = item.get("batches") or {}
    ledgers = campaigns.checkpoints([batch_key(message_id, b) for b in batches])
    for batch_id, device_ids in sorted(batches.items()):
        results += _batch_results(ledgers.get(batch_key(message_id, batch_id)), batch_id, device_ids)
    from pushengine.analytics import stats_view

    return MessageOut(
        message_id=message_id,
        status=str(item["status"]),
        created_at=str(item["created_at"]),
        stats=stats_view(item.get("stats", {})),
        results=[RecipientResult.model_validate(r) for r in results],
    )


def _batch_results(
    ledger: Mapping[str, Any] | None, batch_id: str, device_ids: list[str]
) -> list[dict[str, Any]]:
    """A batch's outcomes from its ledger ({device_id: [stat, reason]}); a device the sender has not
    recorded yet reads `queued` (or `deferred`, in a quiet-hours batch)."""
    recorded = (ledger or {}).get("results") or {}
    waiting = "deferred" if batch_id.startswith("d") else "queued"
    out = []
    for device_id in device_ids:
        got = recorded.get(device_id)
        out.append(_result(device_id, *got) if got else {"device_id": device_id, "outcome": waiting})
    return out
