"""A journey's definition: its entry, re-entry and exit rules, and its graph of steps, validated as a whole.

Every error names where it is: `steps.<id>.<field>` for a step (an unknown `next`, a step no path
reaches, a loop that never waits, a `wait_for` naming no event), `exit_on.<i>`, `first`, `steps` (more
than MAX_STEPS). Steps are parsed one by one, so a bad field of one step is named under that step's id
rather than under pydantic's union tags.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from pushengine.audience import FilterError, validate_filter
from pushengine.content import Message
from pushengine.models import (
    HHMM,
    AtSchedule,
    FrequencyCap,
    LocalTimeSchedule,
    RecurringSchedule,
    Strict,
    Variant,
    parse_delay,
)
from pushengine.profiles import EVENT_NAME

MAX_STEPS = 50
STEP_ID = r"^[A-Za-z][A-Za-z0-9_]{0,23}$"  # short: a send step's campaign id is journey--step--vN
MAX_WAIT = timedelta(days=90)
WAITS = ("wait", "wait_for")  # the steps that stop an enrolment until a timer or an event
EventName = Annotated[str, StringConstraints(pattern=EVENT_NAME)]
StepId = Annotated[str, StringConstraints(pattern=STEP_ID)]


def _duration(value: str) -> str:
    span = parse_delay(value)
    if span > MAX_WAIT:
        raise ValueError("must be at most 90 days (P90D)")
    return value


Duration = Annotated[str, StringConstraints(max_length=32)]


class _Step(BaseModel):
    model_config = Strict

    def exits(self) -> Iterator[tuple[str, str]]:
        """(field, step id) for every step this one can move to."""
        return iter(())


class SendStep(_Step):
    type: Literal["send"]
    message: Message | None = None
    template_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    variants: Annotated[list[Variant], Field(max_length=10)] | None = None
    next: StepId | None = None  # none: the enrolment completes after the send

    @model_validator(mode="after")
    def _one_message(self) -> SendStep:
        if (self.message is None) == (self.template_id is None):
            raise ValueError("message: give exactly one of message and template_id")
        names = [v.name for v in self.variants or []]
        if len(set(names)) != len(names):
            raise ValueError("variants: names must be unique")
        return self

    def exits(self) -> Iterator[tuple[str, str]]:
        if self.next:
            yield "next", self.next


class LocalTime(BaseModel):
    model_config = Strict
    local_time: HHMM


class WaitStep(_Step):
    type: Literal["wait"]
    duration: Duration | None = None
    until: LocalTime | None = None
    next: StepId

    @field_validator("duration")
    @classmethod
    def _span(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)

    @model_validator(mode="after")
    def _one_kind(self) -> WaitStep:
        if (self.duration is None) == (self.until is None):
            raise ValueError("duration: give exactly one of duration and until")
        return self

    def exits(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class WaitForStep(_Step):
    type: Literal["wait_for"]
    event: Annotated[str, Field(validate_default=True)] = ""
    timeout: Duration
    on_event: StepId
    on_timeout: StepId

    @field_validator("event")
    @classmethod
    def _names_an_event(cls, value: str) -> str:
        return _event_name(value)

    @field_validator("timeout")
    @classmethod
    def _span(cls, value: str) -> str:
        return _duration(value)

    def exits(self) -> Iterator[tuple[str, str]]:
        yield "on_event", self.on_event
        yield "on_timeout", self.on_timeout


class EngagementWhen(BaseModel):
    model_config = Strict
    step: StepId
    op: Literal["sent", "delivered", "opened", "clicked"]


class SplitBranch(BaseModel):
    model_config = Strict
    when: dict[str, Any]
    next: StepId

    @field_validator("when")
    @classmethod
    def _filter_or_engagement(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "step" in value:
            EngagementWhen.model_validate(value)
            return value
        try:
            return validate_filter(value) or {}
        except FilterError as exc:
            raise ValueError(f"{exc.path.replace('audience', 'when', 1)}: {exc.reason}") from None


class SplitStep(_Step):
    type: Literal["split"]
    branches: Annotated[list[SplitBranch], Field(min_length=1, max_length=10)]
    else_: StepId = Field(alias="else")

    model_config = {**Strict, "populate_by_name": True}

    def exits(self) -> Iterator[tuple[str, str]]:
        for i, branch in enumerate(self.branches):
            yield f"branches.{i}.next", branch.next
        yield "else", self.else_


class RandomBranch(BaseModel):
    model_config = Strict
    percent: Annotated[int, Field(ge=0, le=100)]
    next: StepId


class RandomStep(_Step):
    type: Literal["random"]
    branches: Annotated[list[RandomBranch], Field(min_length=2, max_length=10)]

    @model_validator(mode="after")
    def _hundred(self) -> RandomStep:
        if sum(b.percent for b in self.branches) != 100:
            raise ValueError("branches: percentages must sum to 100")
        return self

    def exits(self) -> Iterator[tuple[str, str]]:
        for i, branch in enumerate(self.branches):
            yield f"branches.{i}.next", branch.next


class HoldoutStep(_Step):
    type: Literal["holdout"]
    percent: Annotated[float, Field(ge=0, le=100)]
    next: StepId

    def exits(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class WebhookStep(_Step):
    type: Literal["webhook"]
    url: Annotated[str, StringConstraints(max_length=2048)]
    next: StepId

    def exits(self) -> Iterator[tuple[str, str]]:
        yield "next", self.next


class ExitStep(_Step):
    type: Literal["exit"]


Step = Annotated[
    SendStep | WaitStep | WaitForStep | SplitStep | RandomStep | HoldoutStep | WebhookStep | ExitStep,
    Field(discriminator="type"),
]
_STEP: TypeAdapter[Step] = TypeAdapter(Step)


def _event_name(value: str) -> str:
    if not value:
        raise ValueError("names no event")
    TypeAdapter(EventName).validate_python(value)
    return value


class EventEntry(BaseModel):
    model_config = Strict
    event: EventName
    audience: dict[str, Any] | None = None

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        try:
            return validate_filter(value)
        except FilterError as exc:
            raise ValueError(f"{exc.path}: {exc.reason}") from None


class SegmentEntry(BaseModel):
    """The segment's members enter at each occurrence of a recurring schedule (re-entry rules permitting)."""

    model_config = Strict
    segment: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    schedule: RecurringSchedule

    def audience(self) -> dict[str, Any]:
        return {"segment": self.segment}


class AudienceEntry(BaseModel):
    """The devices matching the audience enter once, at an instant or at a wall time in each device's zone."""

    model_config = Strict
    audience: dict[str, Any]
    schedule: Annotated[AtSchedule | LocalTimeSchedule, Field(discriminator="type")]

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: dict[str, Any]) -> dict[str, Any]:
        return EventEntry._audience(value) or {}  # type: ignore[operator]


Entry = EventEntry | SegmentEntry | AudienceEntry
SCHEDULED = (SegmentEntry, AudienceEntry)  # entries that enrol through the segment query, not an event


def parse_entry(raw: Any) -> Entry:
    """The entry by its keys (an event, a segment, an audience with a schedule), errors named `entry.<field>`."""
    if not isinstance(raw, dict):
        raise ValueError("entry: give {event, audience?}, {segment, schedule} or {audience, schedule}")
    kind: type[BaseModel] = (
        EventEntry if "event" in raw else SegmentEntry if "segment" in raw else AudienceEntry
    )
    if kind is AudienceEntry and "schedule" not in raw:
        raise ValueError("entry.event: give an event, a segment with a schedule, or an audience with a schedule")
    try:
        return kind.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        if len(loc) > 1 and loc[0] == "schedule" and loc[1] in ("at", "local_time", "recurring"):
            loc = [loc[0], *loc[2:]]  # the union's tag
        reason = str(error["msg"]).removeprefix("Value error, ")
        named, _, rest = reason.partition(": ")
        if loc and rest and named.split(".")[0] == loc[-1]:  # a filter's error names its own path
            loc, reason = [*loc[:-1], named], rest
        raise ValueError(f"{'.'.join(['entry', *loc])}: {reason}") from None


def parse_step(step_id: str, raw: Any) -> Step:
    """One step, its errors named `steps.<id>.<field>`."""
    try:
        return _STEP.validate_python(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = [str(part) for part in error["loc"]]
        if loc and isinstance(raw, dict) and loc[0] == raw.get("type"):
            loc = loc[1:]  # the union's tag
        where = ".".join(["steps", step_id, *loc])
        reason = str(error["msg"]).removeprefix("Value error, ")
        if ": " in reason and reason.split(": ", 1)[0].replace(".", "").replace("_", "").isalnum():
            inner, reason = reason.split(": ", 1)  # a validator that named its own field
            where = f"steps.{step_id}.{inner}" if not loc else f"{where}.{inner}"
        raise ValueError(f"{where}: {reason}") from None


class JourneyIn(BaseModel):
    model_config = Strict

    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    category: Literal["marketing", "transactional"] = "marketing"
    quiet_hours: Literal["defer", "skip", "ignore"] = "defer"
    frequency_cap: FrequencyCap | None = None
    max_per_second: Annotated[int, Field(ge=1, le=100_000)] | None = None
    ttl_seconds: Annotated[int, Field(ge=0, le=28 * 86400)] = 86400
    entry: Entry
    reentry: Literal["never", "after_exit"] | dict[str, str] = "after_exit"
    exit_on: Annotated[list[str], Field(max_length=10)] = []
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None
    first: StepId
    steps: dict[str, Any]

    @field_validator("entry", mode="before")
    @classmethod
    def _entry(cls, value: Any) -> Any:
        return parse_entry(value)

    @field_validator("reentry")
    @classmethod
    def _reentry(cls, value: Any) -> Any:
        if isinstance(value, dict):
            if set(value) != {"after"}:
                raise ValueError('give "never", "after_exit" or {"after": "<ISO 8601 duration>"}')
            _duration(value["after"])
        return value

    @model_validator(mode="after")
    def _graph(self) -> JourneyIn:
        for i, name in enumerate(self.exit_on):
            try:
                _event_name(name)
            except (ValueError, ValidationError):
                raise ValueError(f"exit_on.{i}: names no event") from None
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end: must be after start")
        check_graph(self.first, self.steps)
        return self

    def parsed_steps(self) -> dict[str, Step]:
        return {step_id: parse_step(step_id, raw) for step_id, raw in self.steps.items()}

    def reentry_after(self) -> timedelta | None:
        return parse_delay(self.reentry["after"]) if isinstance(self.reentry, dict) else None

    def active_at(self, at: datetime) -> bool:
        return (self.start is None or at >= self.start) and (self.end is None or at < self.end)


def check_graph(first: str, raw_steps: dict[str, Any]) -> dict[str, Step]:
    """Parse every step and check the graph: every `next` names a step, every step is reachable from
    `first`, and every loop passes through a wait. Raises ValueError naming the field."""
    if len(raw_steps) > MAX_STEPS:
        raise ValueError(f"steps: at most {MAX_STEPS} steps (got {len(raw_steps)})")
    if not raw_steps:
        raise ValueError("steps: at least one step")
    steps: dict[str, Step] = {}
    for step_id, raw in raw_steps.items():
        try:
            TypeAdapter(StepId).validate_python(step_id)
        except ValidationError:
            raise ValueError(
                f"steps.{step_id[:40]}: a step id is a letter then up to 23 letters, digits or _"
            ) from None
        steps[step_id] = parse_step(step_id, raw)
    if first not in steps:
        raise ValueError(f"first: no step named {first!r}")
    for step_id, step in steps.items():
        for field, target in step.exits():
            if target not in steps:
                raise ValueError(f"steps.{step_id}.{field}: no step named {target!r}")
        if isinstance(step, SplitStep):
            for i, branch in enumerate(step.branches):
                named = branch.when.get("step")
                if named is not None and not isinstance(steps.get(named), SendStep):
                    raise ValueError(f"steps.{step_id}.branches.{i}.when.step: {named!r} is not a send step")
    reached, stack = {first}, [first]
    while stack:
        for _, target in steps[stack.pop()].exits():
            if target not in reached:
                reached.add(target)
                stack.append(target)
    for step_id in steps:
        if step_id not in reached:
            raise ValueError(f"steps.{step_id}: unreachable from first ({first!r})")
    loop = _loop_without_wait(steps)
    if loop is not None:
        step_id, field = loop
        raise ValueError(f"steps.{step_id}.{field}: a loop without a wait (an enrolment would never stop)")
    return steps


def _loop_without_wait(steps: dict[str, Step]) -> tuple[str, str] | None:
    """The first edge that closes a cycle among steps that do not wait (depth-first, colours)."""
    colour: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(step_id: str) -> tuple[str, str] | None:
        colour[step_id] = 1
        for field, target in steps[step_id].exits():
            if steps[target].type in WAITS:
                continue
            if colour.get(target) == 1:
                return step_id, field
            if target not in colour and (found := visit(target)) is not None:
                return found
        colour[step_id] = 2
        return None

    for step_id, step in steps.items():
        if step.type not in WAITS and step_id not in colour and (found := visit(step_id)) is not None:
            return found
    return None


class JourneyCreated(BaseModel):
    journey_id: str
    status: str
    version: int


class JourneyOut(BaseModel):
    journey_id: str
    name: str
    status: str
    version: int
    created_at: str
    definition: dict[str, Any]
    stats: dict[str, Any]


class JourneyPage(BaseModel):
    journeys: list[dict[str, Any]]
    next_token: str | None = None


class EnrolmentOut(BaseModel):
    journey_id: str
    device_id: str
    state: str
    step: str | None
    version: int
    entered_at: str
    path: list[dict[str, Any]]
