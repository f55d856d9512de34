"""The audience queue's messages (and the segment-query function's Scheduler events), one pydantic model per
`kind`, parsed once at the handler boundary (`parse`) as Powertools' parser models an SQS body.

Every model forbids fields it does not name: a message is built by this engine alone, so a field no model
knows is a producer this module has not heard of, and refusing it loudly beats dropping it silently on the
way to its handler. No kind carries open-ended top-level fields; the open-ended parts (a template's
`context`, a journey event, a DynamoDB cursor, a Live Activity's APNs body) are fields of their own.
A message without `kind` is a wave: the Scheduler events of releases before kinds existed."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

WAVE: Literal["wave"] = "wave"  # the kind of a message that names none


class Fields(BaseModel):
    """A part of a message: every field named (see the module's docstring)."""

    model_config = ConfigDict(extra="forbid")


class QueueMessage(Fields):
    """One audience-queue message: `body()` is what goes on the queue (or into a Scheduler's input)."""

    def body(self) -> dict[str, Any]:
        """The message as JSON values, its unset optional fields left out (as producers always wrote it)."""
        return self.model_dump(mode="json", exclude_none=True)


class WaveDue(QueueMessage):
    """A campaign's wave is due (its Scheduler at() schedule fired, or it was queued as due now): one zone plan
    per zone it reaches."""

    kind: Literal["wave"] = WAVE
    app_id: str
    campaign_id: str
    wave_id: str


class Reach(QueueMessage):
    """What a wave's fan-out carries from its zone plan through its slices to each cursor task."""

    app_id: str
    campaign_id: str
    wave_id: str  # an occurrence's: `<run>.<wave id>`
    zone: str  # the IANA zone the devices are read in
    at: str | None = None  # the wave's instant (ISO 8601): decided as of it, or later if it fired late
    cursors: int | None = None  # how many key ranges the zone's plan split it into (readplan)
    run: str | None = None  # a recurring or anniversary occurrence's local date
    context: dict[str, Any] | None = None  # template values that are not the device's (`local_date`)
    variants: list[str] | None = None  # a send-time experiment's wave: the only variants it reaches
    fallback: int | None = None  # an intelligent wave's minute of the day for devices without history


CARRIED = tuple(Reach.model_fields)  # the fields a slice hands down to its children (segment.fan_out)


class ZonePlan(Reach):
    """Size one zone's reads (readplan) once, then fan its key ranges out as slices or cursor tasks."""

    kind: Literal["zone"] = "zone"
    seq: int | None = None  # an occurrence's zone plan is built from its task fields; unused here


class Slice(Reach):
    """A range [lo, hi) of a zone's key ranges: queued as cursor tasks, or as sub-slices when wider than
    readplan.FAN_OUT."""

    kind: Literal["slice"] = "slice"
    cursors: int
    lo: int
    hi: int


class Celebrants(Fields):
    """An anniversary occurrence's task reads that day's celebrants from the date index, not a key range."""

    attribute: str  # the indexed attribute's name
    month_days: list[str]  # "MM-DD" days celebrated on the occurrence's local date


class CursorTask(Reach):
    """Read one key range (or a day's celebrants) page by page into send batches; `seq` counts the task's
    continuations, each carrying the `cursor` its predecessor stopped at."""

    kind: Literal["task"] = "task"
    shard: int  # which of the zone's `cursors` key ranges
    seq: int
    cursor: Any = None  # where the previous page stopped (the device index's last key), as DynamoDB gave it
    held: int | None = None  # times it was held back while its campaign was paused
    celebrants: Celebrants | None = None


class ReleaseDue(QueueMessage):
    """A batch deferred for quiet hours is due: read its devices again and queue it for sending."""

    kind: Literal["release"] = "release"
    app_id: str
    campaign_id: str  # a campaign's id, or a direct message's
    key: str  # the stored deferred batch's key


class DecideExperiment(QueueMessage):
    """An experiment's `decide_after` has passed: compare its variants and send the winner to the rest."""

    kind: Literal["decide"] = "decide"
    app_id: str
    campaign_id: str


class ActivityBody(Fields):
    """The APNs body a Live Activity update or end sends to every reported token."""

    payload: dict[str, Any]  # the `aps` body as APNs takes it
    ttl_seconds: int


class ActivityPush(QueueMessage):
    """One page of a Live Activity update's or end's reported tokens into send batches; `seq` counts pages."""

    kind: Literal["activity_push"] = "activity_push"
    app_id: str
    campaign_id: str  # the activity's id
    op: str  # the update or end this page belongs to (its batch ids follow it)
    seq: int
    activity: ActivityBody
    policy: dict[str, Any] = Field(default_factory=dict)  # the app's pacing policy for the sends
    cursor: Any = None  # where the previous page of tokens stopped


class TriggerDue(QueueMessage):
    """A triggered campaign's wait for one device is over: send to it unless cancelled or replaced."""

    kind: Literal["trigger"] = "trigger"
    app_id: str
    campaign_id: str
    device_id: str
    gen: int  # which arming of the trigger this is: a later event's replaces it
    held: int | None = None  # times it was held back while its campaign was paused (delivery.lifecycle)


class OccurrenceDue(QueueMessage):
    """A recurring or anniversary campaign's occurrence wave is due: its zone plans or celebrant tasks."""

    kind: Literal["occurrence"] = "occurrence"
    app_id: str
    campaign_id: str
    run: str  # the occurrence's local date
    wave_id: str
    at: str  # the wave's instant (ISO 8601)


class PlanOccurrences(QueueMessage):
    """The hourly planner (a scheduled rule): schedule every automated campaign's occurrences ahead."""

    kind: Literal["plan"] = "plan"
    time: str | None = None  # the rule's scheduled time; now when absent (or not a time)


class JourneyEvent(QueueMessage):
    """An event that starts, wakes or exits journeys for the devices it describes."""

    kind: Literal["journey_event"] = "journey_event"
    app_id: str
    event: dict[str, Any]  # the event as `POST /v1/events` took it
    device_ids: list[str]


class JourneyEnrol(QueueMessage):
    """A scheduled entry's page of matching devices to enrol in a journey."""

    kind: Literal["journey_enrol"] = "journey_enrol"
    app_id: str
    journey_id: str
    device_ids: list[str]
    at: str  # the entry's instant (ISO 8601)
    entry_key: str  # names the occurrence or one-off wave, so no device enrols twice from it


class JourneyTimer(QueueMessage):
    """One enrolment's wait is due (a timer near enough to ride the queue's delay)."""

    kind: Literal["journey_timer"] = "journey_timer"
    app_id: str
    journey_id: str
    device_id: str
    seq: int  # the enrolment's step count when armed: a timer of an enrolment that moved on is stale
    due: str  # ISO 8601


class JourneySweep(QueueMessage):
    """The minute's timer sweep (a scheduled rule): one message per timer shard holding a due timer."""

    kind: Literal["journey_sweep"] = "journey_sweep"
    time: str | None = None  # the rule's scheduled time; now when absent


class JourneySweepShard(QueueMessage):
    """Fire one timer shard's timers due by `until`."""

    kind: Literal["journey_sweep_shard"] = "journey_sweep_shard"
    shard: int
    until: str  # ISO 8601


class JourneyResume(QueueMessage):
    """A resumed journey's held enrolments move on, a page at a time."""

    kind: Literal["journey_resume"] = "journey_resume"
    app_id: str
    journey_id: str


AutomationMessage = TriggerDue | OccurrenceDue | PlanOccurrences  # pushengine.automation's
JourneyMessage = JourneyEvent | JourneyEnrol | JourneyTimer | JourneySweep | JourneySweepShard | JourneyResume
DeliveryMessage = WaveDue | ZonePlan | Slice | CursorTask | ReleaseDue  # delivery/segment.py's
AudienceMessage = Annotated[
    DeliveryMessage | DecideExperiment | ActivityPush | AutomationMessage | JourneyMessage,
    Field(discriminator="kind"),
]
_ADAPTER: TypeAdapter[AudienceMessage] = TypeAdapter(AudienceMessage)
KINDS = tuple(get_args(m.model_fields["kind"].annotation)[0] for m in get_args(get_args(AudienceMessage)[0]))


class InvalidMessage(ValueError):
    """A message no model accepts: which kind it claimed, the campaign it names (if any), and what is wrong
    with it as field paths and error types only (a body can hold device tokens and event properties)."""

    def __init__(self, message: Any, exc: ValidationError) -> None:
        message = message if isinstance(message, Mapping) else {}
        self.kind = str(message.get("kind", WAVE))
        app_id, campaign_id = message.get("app_id"), message.get("campaign_id")
        named = isinstance(app_id, str) and isinstance(campaign_id, str) and bool(app_id and campaign_id)
        self.app_id: str | None = app_id if named else None
        self.campaign_id: str | None = campaign_id if named else None
        self.errors = [
            {"field": _field(e["loc"], self.kind, e["type"]), "reason": e["type"]}
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        canonical = json.dumps(message, sort_keys=True, default=str)
        self.digest = hashlib.sha256(canonical.encode()).hexdigest()[:32]  # names the body, not its contents
        super().__init__(f"invalid {self.kind!r} audience message: {self.errors}")

    def describe(self) -> dict[str, Any]:
        """What a log line says about it: never its values."""
        return {"kind": self.kind, "app_id": self.app_id, "campaign_id": self.campaign_id,
                "errors": self.errors}  # fmt: skip


def _field(loc: tuple[int | str, ...], kind: str, reason: str) -> str:
    """An error's field path without the union's tag in front: `app_id`, `celebrants.attribute`."""
    path = loc[1:] if loc and loc[0] == kind else loc
    return ".".join(str(p) for p in path) or ("kind" if reason.startswith("union_tag") else "(body)")


def parse(message: Any) -> AudienceMessage:
    """The message (a decoded SQS body or a Scheduler event) as its kind's model; InvalidMessage if it is not
    one, a body that is not a JSON object included."""
    body = {**message, "kind": message.get("kind", WAVE)} if isinstance(message, Mapping) else message
    try:
        return _ADAPTER.validate_python(body)
    except ValidationError as exc:
        raise InvalidMessage(message, exc) from exc
