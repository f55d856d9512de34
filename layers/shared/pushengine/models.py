"""API bodies and answers: every body is a pydantic model, so bad input is a 4xx naming the field."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from pushengine import geo, webpush_keys
from pushengine.analytics import MAX_ATTRIBUTION_DAYS, check_currency
from pushengine.audience import FilterError, validate_filter
from pushengine.campaign_status import CampaignStatus
from pushengine.channels import ADDRESS_FIELDS, CHANNELS
from pushengine.channels.apns import TOKEN
from pushengine.content import Locale, Message
from pushengine.limits import Storable, Strict
from pushengine.profiles import EVENT_NAME
from pushengine.targeting import REST
from pushengine.waves import is_valid_zone


def _not_a_dot_segment(value: str) -> str:
    if value in (".", ".."):
        raise ValueError("'.' and '..' are path segments, not device ids")
    return value


DeviceId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9._:@-]{1,128}$"), AfterValidator(_not_a_dot_segment)
]
HHMM = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
TagKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Scalar = Annotated[Annotated[str, StringConstraints(max_length=1024)] | bool | int | float, Storable]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(check_currency)]  # ISO 4217
MAX_DATE_ATTRIBUTES = 10


@lru_cache(maxsize=1)
def iso_countries() -> frozenset[str]:
    text = resources.files("tzdata").joinpath("zoneinfo/iso3166.tab").read_text()
    return frozenset(line.split("\t")[0] for line in text.splitlines() if line and not line.startswith("#"))


def _zone(value: str) -> str:
    if not is_valid_zone(value):
        raise ValueError("not an IANA time zone")
    return value


def _country(value: str) -> str:
    if value.upper() not in iso_countries():
        raise ValueError("not an ISO 3166-1 alpha-2 country code")
    return value.upper()


def _filter(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        return validate_filter(value)
    except FilterError as exc:
        raise ValueError(f"{exc.path}: {exc.reason}") from exc


def _region(value: str) -> str:
    if not geo.is_region(value):
        raise ValueError("not an ISO 3166-2 subdivision code (e.g. US-CA, GB-ENG)")
    return value.upper()


Zone = Annotated[str, AfterValidator(_zone)]
AudienceFilter = Annotated[dict[str, Any] | None, AfterValidator(_filter)]
Country = Annotated[str, AfterValidator(_country)]
Region = Annotated[str, StringConstraints(max_length=8), AfterValidator(_region)]
UserId = Annotated[str, StringConstraints(min_length=1, max_length=128)]


# ---------- errors ----------
class FieldError(BaseModel):
    field: str
    reason: str


class ErrorOut(BaseModel):
    """Every 4xx answer: what went wrong, and per field why."""

    message: str
    errors: list[FieldError] = []


# ---------- apps and providers ----------
class AppIn(BaseModel):
    model_config = Strict
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class AppCreated(BaseModel):
    app_id: str
    name: str
    client_key: str
    server_key: str
    identity_secret: str  # signs the user tokens of X-User-Token (the app's backend keeps it)
    webhook_secret: str  # signs journey webhook calls (X-Push-Signature); the receiving backend keeps it


class ProviderOut(BaseModel):
    provider: str
    configured: bool = True
    public_key: str | None = None


# ---------- devices ----------
class Subscription(BaseModel):
    model_config = Strict

    class Keys(BaseModel):
        model_config = Strict
        p256dh: Annotated[str, StringConstraints(max_length=128)]
        auth: Annotated[str, StringConstraints(max_length=64)]

        @model_validator(mode="after")
        def _keys(self) -> Subscription.Keys:
            webpush_keys.check_subscription_keys({"p256dh": self.p256dh, "auth": self.auth})
            return self

    endpoint: Annotated[str, StringConstraints(max_length=2048)]
    keys: Keys
    expirationTime: Annotated[int, Storable] | None = None

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        webpush_keys.check_endpoint(v, webpush_keys.ALLOWED_HOSTS.get())
        return v


class QuietHours(BaseModel):
    model_config = Strict
    start: HHMM
    end: HHMM


class Location(BaseModel):
    """Coarse position; the app chooses the precision it sends."""

    model_config = Strict
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)]
    lon: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)]


APNS_TOKEN = re.compile(TOKEN)  # an APNs device, push-to-start or activity token


def _apns_token(value: str) -> str:
    if not APNS_TOKEN.fullmatch(value):
        raise ValueError("an APNs token is hex (64 to 200 characters)")
    return value


ApnsToken = Annotated[str, StringConstraints(max_length=200), AfterValidator(_apns_token)]


class LiveActivityTokens(BaseModel):
    """What ActivityKit gave the app for starting Live Activities remotely (iOS 17.2+:
    `Activity.pushToStartTokenUpdates`)."""

    model_config = Strict
    push_to_start_token: ApnsToken


if TYPE_CHECKING:
    PlatformName = str
else:  # one of the registered channels' platforms, in the registry's order ("ios", "android", "web")
    PlatformName = Literal[tuple(CHANNELS)]
LIVE_ACTIVITY_PLATFORMS = ", ".join(name for name, channel in CHANNELS.items() if channel.live_activities)


class DeviceIn(BaseModel):
    model_config = Strict
    platform: PlatformName
    token: Annotated[str, StringConstraints(max_length=4096)] | None = None
    subscription: Subscription | None = None
    timezone: Zone = "UTC"
    locale: Locale = "en"
    country: Country | None = None
    user_id: UserId | None = None
    tags: Annotated[dict[TagKey, Scalar], Field(max_length=50)] = {}
    attributes: Annotated[dict[TagKey, Scalar | None], Field(max_length=50)] = {}
    quiet_hours: QuietHours | None = None
    opted_in: bool = True
    region: Region | None = None
    location: Location | None = None
    live_activity: LiveActivityTokens | None = None

    @model_validator(mode="after")
    def _geography(self) -> DeviceIn:
        if self.region is None:
            return self
        if self.country is None:
            self.country = geo.country_of(self.region)  # a region names its country
        elif geo.country_of(self.region) != self.country:
            raise ValueError(f"region: {self.region} is not in country {self.country}")
        return self

    @model_validator(mode="after")
    def _address(self) -> DeviceIn:
        channel = CHANNELS[self.platform]
        channel.check_address({name: getattr(self, name) for name in ADDRESS_FIELDS})
        if self.live_activity is not None and not channel.live_activities:
            raise ValueError(f"live_activity: only for platform {LIVE_ACTIVITY_PLATFORMS}, not {self.platform}")
        return self


class SubscriptionOut(BaseModel):
    """Only the endpoint: the subscription's keys (auth, p256dh) are secrets the sender alone needs."""

    endpoint: str


class UserDevice(BaseModel):
    """A device as its user's listing shows it: everything but the push address."""

    device_id: str
    platform: str
    status: Literal["active", "invalid"]
    timezone: str
    locale: str
    country: str | None = None
    user_id: str | None = None
    tags: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    quiet_hours: QuietHours | None = None
    opted_in: bool
    region: str | None = None
    location: Location | None = None
    events: dict[str, dict[str, Any]] = {}  # behaviour profile: {name: {first, last, count, sum}}
    created_at: str
    updated_at: str
    last_seen: str | None = None


class DeviceOut(UserDevice):
    token: str | None = None
    subscription: SubscriptionOut | None = None
    live_activity: LiveActivityTokens | None = None


class DeviceRegistered(DeviceOut):
    device_secret: str | None = None  # a new device's, or a claimed one's: shown once (X-Device-Secret)


class UserOut(BaseModel):
    user_id: str
    devices: list[UserDevice]


# ---------- campaigns ----------
class NowSchedule(BaseModel):
    model_config = Strict
    type: Literal["now"]


class AtSchedule(BaseModel):
    model_config = Strict
    type: Literal["at"]
    at: AwareDatetime

    @field_validator("at")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        return v.astimezone(UTC)


class LocalTimeSchedule(BaseModel):
    model_config = Strict
    type: Literal["local_time"]
    date: date
    time: HHMM
    if_passed: Literal["skip", "send_now", "next_day"] = "skip"


EventName = Annotated[str, StringConstraints(pattern=EVENT_NAME)]
MAX_TRIGGER_DELAY = timedelta(days=365)
class SendWindow(BaseModel):
    model_config = Strict
    start: HHMM
    end: HHMM

    @model_validator(mode="after")
    def _ordered(self) -> SendWindow:
        if self.end <= self.start:  # "HH:MM" strings order as times; a window does not cross midnight
            raise ValueError("end: must be after start (a window lies inside one day)")
        return self


class IntelligentSchedule(BaseModel):
    """Each device at its own typical local time inside `window` on `date`; see pushengine.typical_time."""

    model_config = Strict
    type: Literal["intelligent"]
    date: date
    window: SendWindow = SendWindow(start="08:00", end="21:00")
    if_passed: Literal["skip", "send_now", "next_day"] = "skip"


_ISO_DURATION = re.compile(
    r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", re.ASCII
)


def parse_delay(value: str) -> timedelta:
    """An ISO 8601 duration in W, D, H, M, S (0 allowed; months and years have no fixed length)."""
    found = _ISO_DURATION.fullmatch(value)
    if found is None or not any(g is not None for g in found.groups()):
        raise ValueError("must be an ISO 8601 duration of zero or more (W, D, H, M, S), e.g. PT1H, P2D, PT0S")
    weeks, days, hours, minutes, seconds = (float(g) if g else 0.0 for g in found.groups())
    if weeks > 60 or days > 400 or hours > 9000 or minutes > 600_000 or seconds > 40_000_000:
        raise ValueError("must be at most one year (P365D)")
    span = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if span > MAX_TRIGGER_DELAY:
        raise ValueError("must be at most one year (P365D)")
    return span


def _delay(value: str) -> str:
    if value.startswith("-"):
        raise ValueError("must not be negative")
    parse_delay(value)
    return value


def _ordered_window(start: Any, end: Any) -> None:
    if start is not None and end is not None and end <= start:
        raise ValueError("end: must be after start")


class TriggeredSchedule(BaseModel):
    """One send per (campaign, device) at trigger time + delay; see pushengine.triggers."""

    model_config = Strict
    type: Literal["triggered"]
    event: EventName
    delay: Annotated[str, StringConstraints(max_length=32), AfterValidator(_delay)] = "PT0S"
    cancel_on: Annotated[list[EventName], Field(max_length=10)] = []
    restart_on_repeat: bool = True
    start: AwareDatetime | None = None
    end: AwareDatetime | None = None

    @model_validator(mode="after")
    def _window(self) -> TriggeredSchedule:
        _ordered_window(self.start, self.end)
        if self.event in self.cancel_on:
            raise ValueError("cancel_on: must not name the trigger event itself")
        return self


Weekday = Literal["MO", "TU", "WE", "TH", "FR", "SA", "SU"]


class RecurringSchedule(BaseModel):
    """Occurrences at a wall time in every device's zone; see pushengine.recurring."""

    model_config = Strict
    type: Literal["recurring"]
    frequency: Literal["daily", "weekly", "monthly"]
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None
    day_of_month: Annotated[int, Field(ge=1, le=31)] | None = None
    time: HHMM
    start: date
    end: date | None = None

    @model_validator(mode="after")
    def _shape(self) -> RecurringSchedule:
        _ordered_window(self.start, self.end)
        if self.frequency == "weekly" and not self.days:
            raise ValueError('days: required for a weekly schedule, e.g. ["MO"]')
        if self.frequency != "weekly" and self.days is not None:
            raise ValueError("days: only for a weekly schedule")
        if self.frequency == "monthly" and self.day_of_month is None:
            raise ValueError("day_of_month: required for a monthly schedule")
        if self.frequency != "monthly" and self.day_of_month is not None:
            raise ValueError("day_of_month: only for a monthly schedule")
        return self


class AnniversarySchedule(BaseModel):
    """Every day, devices whose date attribute's month-day is today locally; see pushengine.anniversaries."""

    model_config = Strict
    type: Literal["anniversary"]
    attribute: Annotated[str, StringConstraints(pattern=r"^attributes\.[A-Za-z0-9_.-]{1,64}$")]
    time: HHMM
    start: date
    end: date | None = None

    @model_validator(mode="after")
    def _window(self) -> AnniversarySchedule:
        _ordered_window(self.start, self.end)
        return self


Schedule = Annotated[
    NowSchedule
    | AtSchedule
    | LocalTimeSchedule
    | TriggeredSchedule
    | RecurringSchedule
    | IntelligentSchedule
    | AnniversarySchedule,
    Field(discriminator="type"),
]
AUTOMATED = ("triggered", "recurring", "anniversary")  # schedule types that stay active and run repeatedly

# each schedule model's `type`: a discriminated union puts it in an error's location, which callers do not write
SCHEDULE_TYPES = frozenset(get_args(m.model_fields["type"].annotation)[0] for m in get_args(get_args(Schedule)[0]))

class Variant(BaseModel):
    model_config = Strict
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    weight: Annotated[float, Field(gt=0, le=100), Storable] = 1
    message: Message
    # send-time experiments: this variant's own wall time (and, for recurring schedules, weekdays)
    time: HHMM | None = None
    days: Annotated[list[Weekday], Field(min_length=1, max_length=7)] | None = None


MAX_EXPERIMENT_VARIANTS = 8
DECIDE_AFTER_MIN, DECIDE_AFTER_MAX = timedelta(minutes=10), timedelta(days=7)


def _decide_after(value: str) -> str:
    span = parse_delay(value)
    if not DECIDE_AFTER_MIN <= span <= DECIDE_AFTER_MAX:
        raise ValueError("must be between PT10M and P7D")
    return value


class Experiment(BaseModel):
    """Variants go to `test_percent` of the audience; `decide_after` the test send, the winner on `metric`
    (or `fallback` when nothing is conclusive at `min_confidence`) goes to the rest: pushengine.rollout."""

    model_config = Strict
    test_percent: Annotated[float, Field(gt=0, lt=100), Storable]
    metric: Literal["opened", "clicked", "converted", "revenue"] = "opened"
    decide_after: Annotated[str, StringConstraints(max_length=32), AfterValidator(_decide_after)] = "PT2H"
    min_confidence: Annotated[float, Field(ge=0.5, lt=1), Storable] = 0.95
    fallback: Literal["default", "best"] = "default"


class FrequencyCap(BaseModel):
    model_config = Strict
    max: Annotated[int, Field(ge=1, le=1000)]
    per_hours: Annotated[int, Field(ge=1, le=24 * 90)]
    scope: Literal["device", "user"] = "device"  # "user": all of a user's devices count together


class CampaignFields(BaseModel):
    """A campaign's fields and their defaults, defined once: the body (CampaignIn) and the stored spec
    (CampaignSpec) share them."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    message: Message | None = None  # or template_id: the template's message, copied at creation
    template_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    variants: Annotated[list[Variant], Field(max_length=10)] | None = None
    holdout_percent: Annotated[float, Field(ge=0, le=50), Storable] = 0
    audience: AudienceFilter = None
    schedule: Schedule = NowSchedule(type="now")
    quiet_hours: Literal["defer", "skip", "ignore"] = "defer"
    frequency_cap: FrequencyCap | None = None
    category: Literal["marketing", "transactional"] = "marketing"
    ttl_seconds: Annotated[int, Field(ge=0, le=28 * 86400)] = 86400
    max_per_second: Annotated[int, Field(ge=1, le=100_000)] | None = None
    experiment: Experiment | None = None


class CampaignIn(CampaignFields):
    model_config = Strict

    @model_validator(mode="after")
    def _variants(self) -> CampaignIn:
        names = [v.name for v in self.variants or []]
        if len(set(names)) != len(names):
            raise ValueError("variants: names must be unique")
        for i, v in enumerate(self.variants or []):
            if v.time is not None and self.schedule.type not in ("local_time", "recurring"):
                raise ValueError(f"variants.{i}.time: only for local_time or recurring schedules")
            if v.days is not None and (
                self.schedule.type != "recurring" or self.schedule.frequency != "weekly"
            ):
                raise ValueError(f"variants.{i}.days: only for weekly recurring schedules")
            if v.days is not None and len(set(v.days)) != len(v.days):
                raise ValueError(f"variants.{i}.days: each weekday at most once")
        if (self.message is None) == (self.template_id is None):
            raise ValueError("message: give exactly one of message and template_id")
        if self.experiment is not None:
            self._check_experiment()
        return self

    def _check_experiment(self) -> None:
        variants = self.variants or []
        if not 2 <= len(variants) <= MAX_EXPERIMENT_VARIANTS:
            raise ValueError(f"experiment: needs 2 to {MAX_EXPERIMENT_VARIANTS} variants, not {len(variants)}")
        if self.schedule.type not in ("now", "at", "local_time"):
            raise ValueError(f"experiment: only for now, at and local_time schedules, not {self.schedule.type}")
        for i, v in enumerate(variants):
            if v.name == REST:
                raise ValueError(f'variants.{i}.name: "{REST}" names the rest of an experiment')
            if v.time is not None:
                raise ValueError(f"variants.{i}.time: an experiment sends its variants at the schedule's time")


class CampaignSpec(CampaignFields):
    """A campaign's (or direct message's) `spec` as stored: what creation validated, its template resolved
    into `message`. The campaign store parses it once where the campaign is loaded.

    Lenient with what the body no longer checks, so every stored item still parses: unknown keys are kept
    (a direct send's `kind`), the audience is taken as stored (validated and canonical at creation), and a
    direct send has no name and no schedule (it answers as `now`)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str | None = None  # type: ignore[assignment]  # a direct send has none
    audience: dict[str, Any] | None = None
    collapse_id: str | None = None  # direct sends: replaces the campaign's own
    data: dict[str, Any] | None = None  # direct sends: what Liquid reads as data.*

    @property
    def transactional(self) -> bool:
        return self.category == "transactional"

    def stored(self) -> dict[str, Any]:
        """The spec exactly as it was stored (no default filled in)."""
        return self.model_dump(mode="json", exclude_unset=True)


class WaveOut(BaseModel):
    wave_id: str
    send_at: datetime
    time_zones: list[str]
    status: str = CampaignStatus.SCHEDULED
    variants: list[str] | None = None  # a send-time experiment's wave: the variants (and holdout) it reaches


class SkippedZone(BaseModel):
    """A zone of the app's whose wall time had passed: not sent to (if_passed: skip)."""

    time_zone: str
    devices: int  # the devices the zone held when it was skipped


class ExperimentComparison(BaseModel):
    a: str
    b: str
    rate_a: float
    rate_b: float
    p_value: float | None  # two-sided; Bonferroni-corrected with more than two variants
    conclusive: bool


class ExperimentOut(BaseModel):
    """An experiment's state as `GET /v1/campaigns/{id}` answers it (pushengine.rollout)."""

    status: Literal["testing", "decided"]
    metric: str
    test_percent: float
    decide_at: str | None = None
    decided_at: str | None = None
    winner: str | None = None
    conclusive: bool | None = None
    reason: str | None = None
    overall_p_value: float | None = None  # the chi-squared test's, with more than two variants
    comparisons: list[ExperimentComparison] = []


class CampaignOut(BaseModel):
    campaign_id: str
    name: str
    status: str
    created_at: str
    schedule: dict[str, Any]
    waves: list[WaveOut]
    skipped_time_zones: list[SkippedZone] = []
    stats: dict[str, Any] = {}
    variants: dict[str, dict[str, Any]] = {}
    # with a holdout: per variant, its conversion rate against the holdout's (pushengine.lift)
    lift: dict[str, dict[str, Any]] | None = None
    # sends that failed for good after every retry (dead-lettered), by reason
    errors: dict[str, int] = {}
    # recurring and anniversary campaigns: the latest runs (occurrences), each with its own stats
    runs: list[dict[str, Any]] | None = None
    # an anniversary campaign that declared its attribute: the job indexing the devices already holding it
    # (GET /v1/devices/index/{job_id}); its first occurrence waits for it
    index_job: str | None = None
    # a campaign with an experiment: its decision, once made, and every comparison
    experiment: ExperimentOut | None = None


class CampaignPage(BaseModel):
    campaigns: list[CampaignOut]
    next_token: str | None = None


class AudienceCountIn(BaseModel):
    model_config = Strict
    audience: AudienceFilter = None


class AudienceCount(BaseModel):
    count: int  # opted-in devices the filter selects (scaled up from a sample when `estimated`)
    scanned: int  # devices read to answer
    estimated: bool = False  # the app has more devices than one count reads: a sample of each zone
    devices: int = 0  # devices in the app's zones, as counted
    counted_at: str | None = None  # answers are cached for a minute


# ---------- events ----------
MAX_PROPERTIES_BYTES = 2048
MAX_PROPERTIES_KEYS = 32
EVENT_FUTURE_SLACK = timedelta(minutes=5)  # clocks on phones drift; more than this ahead is wrong
EVENT_MAX_AGE = timedelta(days=5 * 365)


def _properties(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_PROPERTIES_KEYS:
        raise ValueError(f"at most {MAX_PROPERTIES_KEYS} keys")
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_PROPERTIES_BYTES:
        raise ValueError(f"{size} bytes as JSON; at most {MAX_PROPERTIES_BYTES}")
    return value


def _event_time(value: datetime) -> datetime:
    now = datetime.now(UTC)
    if value > now + EVENT_FUTURE_SLACK:
        raise ValueError("is in the future")
    if value < now - EVENT_MAX_AGE:
        raise ValueError("is more than 5 years ago")
    return value.astimezone(UTC)


class EventIn(BaseModel):
    model_config = Strict
    device_id: DeviceId | None = None
    user_id: UserId | None = None
    name: Annotated[str, StringConstraints(pattern=EVENT_NAME)]
    campaign_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    journey_id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")] | None = None
    step: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]{0,23}$")] | None = None
    value: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False), Storable] | None = None
    currency: Currency | None = None
    # e.g. {"action_id": "buy"} on `clicked`: the notification button that was tapped
    properties: Annotated[dict[str, Any], AfterValidator(_properties)] | None = None
    timestamp: Annotated[AwareDatetime, AfterValidator(_event_time)] | None = None

    @model_validator(mode="after")
    def _subject(self) -> EventIn:
        if (self.device_id is None) == (self.user_id is None):
            raise ValueError("device_id: give exactly one of device_id or user_id")
        return self


MAX_BATCH_EVENTS = 100


class EventBatchIn(BaseModel):
    model_config = Strict
    # Each event is validated on its own, so one bad event does not refuse the others.
    events: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]


# ---------- segments and users ----------
MAX_SEGMENT_FILTER_BYTES = 16_384


def _segment_filter(value: dict[str, Any]) -> dict[str, Any]:
    if len(json.dumps(value, separators=(",", ":"))) > MAX_SEGMENT_FILTER_BYTES:
        raise ValueError(f"larger than {MAX_SEGMENT_FILTER_BYTES} bytes as JSON")
    canonical = _filter(value)
    assert canonical is not None  # only None validates to None
    return canonical


SegmentFilter = Annotated[dict[str, Any], AfterValidator(_segment_filter)]


class SegmentIn(BaseModel):
    """`{name, audience}` like a campaign; `filter`, the name segments took first, is still accepted."""

    model_config = Strict
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    audience: SegmentFilter | None = None
    filter: SegmentFilter | None = None

    @model_validator(mode="after")
    def _one_definition(self) -> SegmentIn:
        if self.audience is None and self.filter is None:
            raise ValueError("audience: required (the filter the segment selects)")
        if self.audience is not None and self.filter is not None:
            raise ValueError("audience: give audience or filter (its former name), not both")
        return self

    @property
    def definition(self) -> dict[str, Any]:
        found = self.audience if self.audience is not None else self.filter
        assert found is not None  # _one_definition
        return found

    @property
    def field(self) -> str:
        """Where errors in the definition are named: the field the body used."""
        return "body.audience" if self.audience is not None else "body.filter"


class SegmentOut(BaseModel):
    segment_id: str
    name: str
    audience: dict[str, Any]
    filter: dict[str, Any]  # the same, under the name earlier clients read
    created_at: str
    updated_at: str


class SegmentPage(BaseModel):
    segments: list[SegmentOut]


# ---------- app settings ----------
class AppSettingsIn(BaseModel):
    """App-wide defaults. Campaign fields override them; transactional sends ignore caps and quiet hours.
    Every field is optional so later defaults add without breaking."""

    model_config = Strict
    quiet_hours: QuietHours | None = None  # for devices that have none of their own
    frequency_cap: FrequencyCap | None = None  # over all marketing sends of the app, capped campaigns or not
    max_per_second: Annotated[int, Field(ge=1, le=100_000)] | None = None
    # device attributes holding dates (YYYY-MM-DD) that anniversary campaigns may use; indexed by month-day
    date_attributes: Annotated[list[TagKey], Field(max_length=MAX_DATE_ATTRIBUTES)] = []
    # revenue without a currency counts in it, and `stats.revenue` is the amount in it (USD when unset)
    currency: Currency | None = None
    # a conversion without campaign_id counts for campaigns that reached the device this many days before
    attribution_window_days: Annotated[int, Field(ge=0, le=MAX_ATTRIBUTION_DAYS)] | None = None
    # what a client key must prove (pushengine.device_trust): a new app's are "required"; omitted in a PUT,
    # the stored value stays; an app made before they existed has neither, and behaves as "off"
    device_secrets: Literal["required", "off"] | None = None
    identity_verification: Literal["required", "off"] | None = None
    client_event_rate: Annotated[int, Field(ge=1, le=100_000)] | None = None  # per device per minute (120)


class AppSettingsOut(AppSettingsIn):
    model_config = ConfigDict(extra="ignore")
    app_id: str
    updated_at: str | None = None
