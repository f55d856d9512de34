"""Live Activities (iOS): started remotely on chosen devices, then updated and ended through the tokens the
app reports for them.

- Start: the named iOS devices that hold a push-to-start token (`live_activity.push_to_start_token` on the
  device) get `aps.event: "start"` with the activity's type, attributes, content state and alert.
- Each device's app then reports the started activity's own token (`PUT .../tokens/{device_id}`, client key
  and device secret); updates and ends reach every reported token.
- A push-to-start token APNs refuses for good (410, 400 BadDeviceToken) leaves its device, as a refused device
  token does (the device itself stays: its own token was not refused), counted in `counts.pruned`.

Nothing here calls APNs: each operation packs send batches the sender already knows (a direct send's
shape, each batch carrying the one body it sends, built by payloads/live_activity.py), so sends go through
the send queue with the provider quota's pacing, checkpoints and counts like every other send. The activity's
delivery is a campaign-like item (id `xla_...`: it sorts after campaign and message ids, so neither listing
reads it) whose per-variant stats count each event: `vstats.start.sent` is how many started, and so on.
Every body is checked against APNs' 4096 bytes before anything is queued (400 naming the field).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from pushengine import app_settings, segments, waves
from pushengine.campaign_status import CampaignStatus
from pushengine.config import Settings
from pushengine.dal.apps import AppsRepository, now_iso
from pushengine.dal.campaigns import zero_stats
from pushengine.dal.live_activities import LiveActivityStore
from pushengine.dal.queues import send_json
from pushengine.dal.scheduler import schedule_name
from pushengine.dal.segments import SegmentsRepository
from pushengine.delivery.segment import split_to_fit, start_entry, startable
from pushengine.errors import Conflict, InvalidInput, NotFound
from pushengine.limits import Storable
from pushengine.models import ApnsToken, AudienceFilter, CampaignSpec, DeviceId
from pushengine.payloads import live_activity
from pushengine.payloads.apns import MAX_PAYLOAD_BYTES
from pushengine.ports import CampaignStore, Clock, DeviceStore, Queue
from pushengine.queue_messages import ActivityBody, ActivityPush, WaveDue

ACTIVITY_PREFIX = "xla_"
FAN_OUT = "activity_push"  # the audience-queue message kind of an update's or end's fan-out (`fan_out`)
PAGE_BATCHES = 4  # send batches of tokens one fan-out message reads
MAX_DEVICES = 1000
TTL_SECONDS = 8 * 3600  # Apple ends a Live Activity after 8 hours: a push older than that has no use
Strict = ConfigDict(extra="forbid", str_strip_whitespace=True)
# The ContentState / attributes as JSON objects: what the app's Codable types decode (size checked below)
State = Annotated[dict[Annotated[str, StringConstraints(min_length=1, max_length=64)], Any], Storable]
SwiftType = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.]{0,127}$")]


class Alert(BaseModel):
    model_config = Strict
    title: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    body: Annotated[str, StringConstraints(min_length=1, max_length=1024)]
    sound: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None


class ActivityStart(BaseModel):
    """`activity_type` is the app's ActivityAttributes type name (`attributes-type`)."""

    model_config = Strict
    activity_type: SwiftType
    device_ids: Annotated[list[DeviceId], Field(min_length=1, max_length=MAX_DEVICES)] | None = None
    audience: AudienceFilter = None
    attributes: State
    content_state: State
    alert: Alert

    @model_validator(mode="after")
    def _targets(self) -> ActivityStart:
        if (self.audience is None) == (self.device_ids is None):
            raise ValueError("audience: give exactly one of audience and device_ids")
        return self


class ActivityUpdate(BaseModel):
    model_config = Strict
    content_state: State
    alert: Alert | None = None
    stale_date: AwareDatetime | None = None


class ActivityEnd(BaseModel):
    model_config = Strict
    content_state: State | None = None
    dismissal_date: AwareDatetime | None = None


class TokenIn(BaseModel):
    """The started activity's own push token (ActivityKit `Activity.pushTokenUpdates`)."""

    model_config = Strict
    token: ApnsToken


class ActivityStarted(BaseModel):
    activity_id: str
    # devices the start goes to (iOS, opted in, holding a push-to-start token); None for an audience, whose
    # devices are counted as its zones are read (GET's counts.targeted)
    targeted: int | None


class ActivitySent(BaseModel):
    """Queued: the reported tokens are read a page at a time by the segment-query function (`fan_out`)."""

    activity_id: str
    event: Literal["update", "end"]


class ActivityCounts(BaseModel):
    targeted: int
    started: int
    reported: int
    updated: int
    ended: int
    failed: int  # pushes APNs refused for good, `pruned` among them
    pruned: int  # push-to-start tokens APNs refused for good (410, 400 BadDeviceToken): gone from their devices


class ActivityOut(BaseModel):
    activity_id: str
    activity_type: str
    status: Literal["active", "ended"]
    created_at: str
    ended_at: str | None = None
    updates: int  # updates asked for
    counts: ActivityCounts
    errors: dict[str, int] = {}


@dataclass
class LiveActivityDeps:
    settings: Settings
    campaigns: CampaignStore
    devices: DeviceStore
    activities: LiveActivityStore
    apps: AppsRepository | None = None  # the app's defaults: max_per_second
    segments: SegmentsRepository | None = None  # the saved segments an audience names
    clock: Clock = field(default=lambda: datetime.now(UTC))
    new_id: Callable[[datetime], str] = field(
        default=lambda now: f"{ACTIVITY_PREFIX}{int(now.timestamp() * 1000):012x}{secrets.token_hex(5)}"
    )


def stored_spec(activity_type: str) -> dict[str, Any]:
    """The stored spec: what the sender and the campaign store read (quiet hours and caps do not apply)."""
    return {"kind": "live_activity", "activity_type": activity_type, "category": "transactional",
            "quiet_hours": "ignore", "ttl_seconds": TTL_SECONDS}  # fmt: skip


def checked(body: dict[str, Any], fields: Iterable[str]) -> dict[str, Any]:
    """The body, or a 400 naming the largest of `fields` (the request's own) when it is over APNs' limit."""
    size = live_activity.oversize(body)
    if size is None:
        return body
    aps = body["aps"]
    names = {"content_state": "content-state", "attributes": "attributes", "alert": "alert"}
    given = [f for f in fields if names.get(f) in aps]
    biggest = max(given, key=lambda f: len(str(aps[names[f]])), default="content_state")
    raise InvalidInput(
        f"the Live Activity payload would be {size} bytes, over APNs' {MAX_PAYLOAD_BYTES}", field=f"body.{biggest}"
    )


def start(deps: LiveActivityDeps, app_id: str, body: ActivityStart) -> ActivityStarted:
    now = deps.clock()
    payload = checked(
        live_activity.payload(
            "start", now, content_state=body.content_state, attributes_type=body.activity_type,
            attributes=body.attributes, alert=body.alert.model_dump(exclude_none=True),
        ),
        ("attributes", "content_state", "alert"),
    )  # fmt: skip
    activity_id = deps.new_id(now)
    if body.audience is not None:
        return _start_audience(deps, app_id, activity_id, body, payload, now)
    found = deps.devices.get_many(app_id, list(dict.fromkeys(body.device_ids or [])))
    entries = [start_entry(item) for item in found.values() if startable(item)]
    spec = stored_spec(body.activity_type)
    defaults = app_settings.load(deps.apps, app_id)
    policy = app_settings.pacing_policy(defaults, CampaignSpec.model_validate(spec))
    push = {"payload": payload, "ttl_seconds": TTL_SECONDS}
    batches = _batches(deps.settings, app_id, activity_id, "start", entries, push, policy)
    deps.activities.create(app_id, activity_id, body.activity_type, now_iso())
    delivery = delivery_item(app_id, activity_id, spec)
    delivery["stats"]["targeted"] = len(entries)
    deps.campaigns.create({
        **delivery, "status": CampaignStatus.SENDING if batches else CampaignStatus.COMPLETED,
        "waves": [], "waves_pending": 0, "batches_pending": len(batches),
    })  # fmt: skip
    send_json(deps.settings.send_queue_url, batches, max_message=deps.settings.max_message_bytes)
    return ActivityStarted(activity_id=activity_id, targeted=len(entries))


def delivery_item(app_id: str, activity_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The campaign-like item the sender counts the activity's sends on; `vstats.default` is where an
    audience's targeting counts, `paced` where the app's `max_per_second` hands out send slots."""
    vstats = {name: zero_stats() for name in (*live_activity.EVENTS, "default")}
    return {"app_id": app_id, "campaign_id": activity_id, "name": "live activity", "kind": "live_activity",
            "created_at": now_iso(), "spec": spec, "tasks_pending": 0, "stats": {**zero_stats(), "reported": 0},
            "vstats": vstats, "paced": {}, "errors": {}}  # fmt: skip


def _start_audience(
    deps: LiveActivityDeps, app_id: str, activity_id: str, body: ActivityStart, payload: dict[str, Any],
    now: datetime,
) -> ActivityStarted:  # fmt: skip
    """A start by audience goes the way a campaign sent now goes: one wave, every zone of the app read in
    shards by the segment-query function (bounded work at any size), its batches built of the matching
    devices that hold a push-to-start token (`spec.activity` says so). Saved segments it names resolve as a
    campaign's do: checked and noted on each segment now (400 naming `body.audience` when one does not
    resolve; a segment cannot be deleted while the start is under way), expanded when its wave fires."""
    spec = {**stored_spec(body.activity_type), "audience": body.audience,
            "activity": {"payload": payload, "ttl_seconds": TTL_SECONDS}}  # fmt: skip
    [wave] = waves.plan_now(now)
    named = segments.referenced(deps.segments, app_id, body.audience, activity_id)
    try:
        deps.activities.create(app_id, activity_id, body.activity_type, now_iso())
        deps.campaigns.create({
            **delivery_item(app_id, activity_id, spec), "status": "scheduled", "batches_pending": 0,
            "waves_pending": 1,
            "waves": [{"wave_id": wave.wave_id, "send_at": wave.send_at.isoformat(), "zones": list(wave.time_zones),
                       "schedule": schedule_name(activity_id, wave.wave_id)}],
        })  # fmt: skip
    except Exception:
        if deps.segments is not None and named:
            deps.segments.unreference(app_id, named, activity_id)
        raise
    fire = WaveDue(app_id=app_id, campaign_id=activity_id, wave_id=wave.wave_id).body()
    send_json(deps.settings.audience_queue_url, [fire], max_message=deps.settings.max_message_bytes)
    return ActivityStarted(activity_id=activity_id, targeted=None)


def report_token(deps: LiveActivityDeps, app_id: str, activity_id: str, device_id: str, body: TokenIn) -> None:
    """Keep the device's token for this activity (its latest: ActivityKit may rotate it); the first report
    of each device counts once in `reported`."""
    state = _state(deps, app_id, activity_id)
    if state["status"] != "active":
        raise Conflict("this Live Activity has ended", field="activity_id")
    deps.activities.put_token(app_id, activity_id, device_id, body.token, now_iso())
    deps.campaigns.record(app_id, activity_id, f"latoken#{activity_id}#{device_id}", stats={"reported": 1})


def update(deps: LiveActivityDeps, app_id: str, activity_id: str, body: ActivityUpdate) -> ActivitySent:
    _state(deps, app_id, activity_id)
    payload = checked(
        live_activity.payload(
            "update", deps.clock(), content_state=body.content_state, stale_date=body.stale_date,
            alert=None if body.alert is None else body.alert.model_dump(exclude_none=True),
        ),
        ("content_state", "alert"),
    )  # fmt: skip
    deps.activities.note_update(app_id, activity_id)  # Conflict once it ended
    return _send(deps, app_id, activity_id, "update", payload)


def end(deps: LiveActivityDeps, app_id: str, activity_id: str, body: ActivityEnd) -> ActivitySent:
    _state(deps, app_id, activity_id)
    payload = checked(
        live_activity.payload(
            "end", deps.clock(), content_state=body.content_state, dismissal_date=body.dismissal_date
        ),
        ("content_state",),
    )
    deps.activities.end(app_id, activity_id, now_iso())  # Conflict when it already ended
    return _send(deps, app_id, activity_id, "end", payload)


def _send(
    deps: LiveActivityDeps, app_id: str, activity_id: str, event: Literal["update", "end"], payload: dict[str, Any]
) -> ActivitySent:
    """Queue the push's fan-out over the reported tokens: the tokens of an activity started on an audience
    are as many as its audience, so they are never read here."""
    op = f"{event}{int(payload['aps']['timestamp'])}{secrets.token_hex(3)}"
    defaults = app_settings.load(deps.apps, app_id)
    policy = app_settings.pacing_policy(defaults, CampaignSpec.model_validate(stored_spec("")))
    message = ActivityPush(app_id=app_id, campaign_id=activity_id, op=op, seq=0, policy=policy,
                           activity=ActivityBody(payload=payload, ttl_seconds=TTL_SECONDS)).body()  # fmt: skip
    send_json(deps.settings.audience_queue_url, [message], max_message=deps.settings.max_message_bytes)
    return ActivitySent(activity_id=activity_id, event=event)


def fan_out(
    settings: Settings, campaigns: CampaignStore, activities: LiveActivityStore, queue: Queue,
    message: dict[str, Any],
) -> None:  # fmt: skip
    """One page of an update's or end's tokens into send batches (an audience-queue message of kind
    `activity_push`), then the next page as a message of its own: bounded work per invocation at any number
    of tokens. Batch ids follow the page, and the page counts its batches once under its own ledger item,
    so a redelivered page sends the same batches (the sender's ledger sends each once) and counts nothing
    twice; the next page is queued after the count, as a campaign task's continuation is."""
    app_id, activity_id, op, seq = message["app_id"], message["campaign_id"], message["op"], int(message["seq"])
    push = message["activity"]
    event = push["payload"]["aps"]["event"]
    limit = settings.send_batch_size * PAGE_BATCHES
    found, cursor = activities.tokens_page(app_id, activity_id, limit=limit, start=message.get("cursor"))
    entries = [{"id": d, "p": "ios", "v": event, "t": t} for d, t in found]
    batches = _batches(settings, app_id, activity_id, f"{op}.{seq}", entries, push, message.get("policy") or {})
    queue.send_json(settings.send_queue_url, batches, max_message=settings.max_message_bytes)
    campaigns.record(app_id, activity_id, f"laop#{activity_id}#{op}#{seq}", counters={"batches_pending": len(batches)},
                     variant_stats={event: {"targeted": len(entries)}})  # fmt: skip
    if cursor is not None:
        queue.send_json(settings.audience_queue_url, [{**message, "seq": seq + 1, "cursor": cursor}],
                        max_message=settings.max_message_bytes)  # fmt: skip


def _batches(
    s: Settings, app_id: str, activity_id: str, op: str, entries: list[dict[str, Any]], push: dict[str, Any],
    policy: dict[str, Any],
) -> list[dict[str, Any]]:  # fmt: skip
    queued_at = time.time()
    out: list[dict[str, Any]] = []
    size = s.send_batch_size
    for i in range(0, len(entries), size):
        batch = {"app_id": app_id, "campaign_id": activity_id, "batch_id": f"{op}.{i // size}",
                 "devices": entries[i : i + size], "activity": push, "queued_at": queued_at, **policy}  # fmt: skip
        out += split_to_fit(batch, s.max_message_bytes)
    return out


def _state(deps: LiveActivityDeps, app_id: str, activity_id: str) -> dict[str, Any]:
    state = deps.activities.state(app_id, activity_id) if activity_id.startswith(ACTIVITY_PREFIX) else None
    if state is None:
        raise NotFound("Live Activity not found", field="activity_id")
    return state


def get(deps: LiveActivityDeps, app_id: str, activity_id: str) -> ActivityOut:
    state = _state(deps, app_id, activity_id)
    item = deps.campaigns.get(app_id, activity_id, consistent=True) or {}
    stats, vstats = item.get("stats") or {}, item.get("vstats") or {}

    def count(event: str, stat: str = "sent") -> int:
        return int((vstats.get(event) or {}).get(stat, 0))

    counts = ActivityCounts(
        targeted=int(stats.get("targeted", 0)), started=count("start"), reported=int(stats.get("reported", 0)),
        updated=count("update"), ended=count("end"),
        failed=int(stats.get("failed", 0)) + int(stats.get("pruned", 0)), pruned=count("start", "pruned"),
    )  # fmt: skip
    return ActivityOut(
        activity_id=activity_id, activity_type=str(state["activity_type"]), status=state["status"],
        created_at=str(state["created_at"]), ended_at=state.get("ended_at"), updates=int(state.get("updates", 0)),
        counts=counts, errors={str(k): int(v) for k, v in (item.get("errors") or {}).items()},
    )  # fmt: skip
