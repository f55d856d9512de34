"""Composition of each device's message: Liquid templates compiled once per campaign, rendered per device.

Everything here is pure (no I/O) and sits on the send hot path, so the per-device work is a dict
look-up for the locale, a small context dict and at most three template renders.

Locale fallback (RFC 4647 "lookup"): the device's tag is matched case-insensitively against the
campaign's localizations, then shortened one subtag at a time (zh-Hant-TW -> zh-Hant -> zh), then the
default message is used. Sibling regions are never guessed (pt-BR does not take pt-PT, zh-Hant does
not take zh-Hans): the top-level title/body is the author's explicit fallback.

Worst-case size rule (check_sizes, at campaign creation): a template's rendered text is estimated as
its own source text with every output statement `{{ ... }}` counted as max(64, its own source bytes),
so a literal default longer than 64 bytes counts in full; tags `{% ... %}` count as their source text,
which covers every if/else branch at once. Loops are counted once; the render-time output limit of the
Environment bounds what they can add per device.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from calendar import isleap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from liquid import BoundTemplate, Environment
from liquid.exceptions import LiquidError
from liquid.filter import with_context
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
    model_validator,
)

from pushengine.errors import InvalidInput
from pushengine.limits import Storable

__all__ = [
    "MAX_ACTIONS",
    "MAX_PAYLOAD",
    "WEBPUSH_MAX_PLAINTEXT",
    "Action",
    "AndroidOptions",
    "CompiledMessage",
    "IosOptions",
    "LocalizedText",
    "Message",
    "PayloadTooLarge",
    "RenderError",
    "RenderedMessage",
    "TemplateError",
    "WebOptions",
    "actions_category",
    "apns_payload",
    "check_sizes",
    "collapse_id",
    "fcm_message",
    "payload_size",
    "webpush_payload",
]

MAX_PAYLOAD = 4096  # APNs alert push and FCM message limit, bytes
# aes128gcm record: 86-byte header (salt 16, rs 4, idlen 1, keyid 65) + 16-byte tag + 1 padding delimiter
WEBPUSH_MAX_PLAINTEXT = MAX_PAYLOAD - 86 - 16 - 1
MAX_ACTIONS = 3  # buttons a notification shows: Chrome shows 2, Android 3, iOS up to 4 in its long look
VARIABLE_ESTIMATE = 64  # bytes assumed for each {{ ... }} output when estimating the worst case

# Template context: only these device fields, so a template can never print a token or subscription;
# `data` is a direct send's data, `event` a triggered send's trigger ({name, properties}), `local_date`
# the send's date in the device's zone.
CONTEXT_FIELDS = ("attributes", "tags", "locale", "country", "timezone", "platform", "user_id", "data", "event",
                  "local_date")  # fmt: skip
# FCM reserves these data keys (or we fill them ourselves), so a campaign may not set them.
_RESERVED_DATA_KEYS = frozenset(
    {"campaign_id", "url", "actions", "from", "notification", "message_type", "collapse_key"}
)
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")
# Schemes that would run code or leave the secure web when a browser or app opens the link.
_FORBIDDEN_SCHEMES = frozenset({"http", "javascript", "data", "file", "vbscript", "blob", "about", "ftp"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://\S")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?(-[A-Za-z0-9]{5,8})*$")
_OUTPUT = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_LOCALE_CACHE_MAX = 512  # distinct device locales remembered per compiled message


# ---------- errors ----------
class TemplateError(InvalidInput):
    """A message template does not parse: a 400 naming the field, e.g. message.localizations.de.title."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)


class PayloadTooLarge(InvalidInput):
    """The worst-case payload for a platform exceeds its limit: refused at campaign creation."""

    def __init__(self, platform: str, size: int, limit: int, *, field: str = "message") -> None:
        super().__init__(
            f"{platform} payload would be up to {size} bytes, over the {limit}-byte limit", field=field
        )
        self.platform = platform
        self.size = size
        self.limit = limit


class RenderError(ValueError):
    """A device's data broke a template (e.g. divided_by: 0): that device fails, not the batch."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


# ---------- the campaign message contract ----------
def _locale(value: str) -> str:
    if not _LOCALE.match(value):
        raise ValueError(f"{value!r} is not a BCP 47 language tag (e.g. de, pt-BR, es-419, zh-Hant-TW)")
    return value


def _https(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or any(c.isspace() for c in value):
        raise ValueError("must be an https URL")
    return value


def _deep_link(value: str) -> str:
    match = _SCHEME.match(value)
    scheme = match.group(1).lower() if match else ""
    if not match or (scheme == "https" and not urlsplit(value).netloc):
        raise ValueError("must be an https URL or an app link like myapp://path")
    if scheme in _FORBIDDEN_SCHEMES:
        raise ValueError(f"the {scheme}: scheme is not allowed; use https or an app scheme")
    return value


def _data_key(value: str) -> str:
    if value in _RESERVED_DATA_KEYS or value.startswith(_RESERVED_DATA_PREFIXES):
        raise ValueError(f"{value!r} is reserved")
    return value


Title = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
DataKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$"), AfterValidator(_data_key)]
# bool before int: smart-mode unions keep the exact type, and strictness stops "1" becoming 1.
DataValue = Annotated[
    Annotated[str, StringConstraints(max_length=1024)]
    | StrictBool
    | StrictInt
    | Annotated[float, Field(strict=True, allow_inf_nan=False)],
    Storable,
]
Locale = Annotated[str, AfterValidator(_locale)]


Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
HttpsUrl = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_https)]
DeepLink = Annotated[str, StringConstraints(max_length=2048), AfterValidator(_deep_link)]


class Action(BaseModel):
    """A button. Its id is what the app reports as `clicked` (with `action_id`) when it is tapped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")]
    title: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    url: DeepLink | None = None


class IosOptions(BaseModel):
    """APNs `aps` keys (Apple, "Generating a remote notification"): category, thread-id, interruption-level,
    relevance-score and the alert's subtitle."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    category: Identifier | None = None  # a UNNotificationCategory identifier the app registers
    thread_id: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    interruption_level: Literal["passive", "active", "time-sensitive", "critical"] | None = None
    relevance_score: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)] | None = None
    subtitle: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = None


class AndroidOptions(BaseModel):
    """FCM v1 `android` (priority) and `android.notification` fields."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    channel_id: Identifier | None = None  # a NotificationChannel the app creates
    priority: Literal["high", "normal"] | None = None  # delivery priority (android.priority)
    color: Annotated[str, StringConstraints(pattern=r"^#[0-9A-Fa-f]{6}$")] | None = None  # #rrggbb
    icon: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")] | None = None  # a drawable
    tag: Identifier | None = None  # a later notification with the same tag replaces this one
    sticky: StrictBool | None = None  # stays when tapped
    click_action: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.]{1,128}$")] | None = None


class WebOptions(BaseModel):
    """Notification options a service worker passes to showNotification()."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    icon: HttpsUrl | None = None
    badge: HttpsUrl | None = None  # the small monochrome image on Android's status bar
    require_interaction: StrictBool | None = None
    renotify: StrictBool | None = None
    silent: StrictBool | None = None


class LocalizedText(BaseModel):
    """A translation; a field left out falls back to the default message's."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Title | None = None
    body: Body | None = None


class Message(BaseModel):
    """What a campaign sends. title, body, url and localizations are Liquid templates over the device."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    title: Title | None = None  # required unless content_available
    body: Body | None = None  # required unless content_available
    image_url: HttpsUrl | None = None
    url: DeepLink | None = None
    data: Annotated[dict[DataKey, DataValue], Field(max_length=50)] | None = None
    badge: Annotated[StrictInt, Field(ge=0), Storable] | None = None
    sound: Annotated[str, StringConstraints(max_length=256, pattern=r"^[A-Za-z0-9_.\- ]+$")] | None = None
    localizations: Annotated[dict[Locale, LocalizedText], Field(max_length=200)] | None = None
    actions: Annotated[list[Action], Field(min_length=1, max_length=MAX_ACTIONS)] | None = None
    ios: IosOptions | None = None
    android: AndroidOptions | None = None
    web: WebOptions | None = None
    # data-only: wakes the app (APNs background push, FCM data message, Web Push handled by the service
    # worker) and shows nothing, so nothing visible may be given
    content_available: StrictBool = False

    @model_validator(mode="after")
    def _shape(self) -> Message:
        if self.content_available:
            visible = {"title": self.title, "body": self.body, "image_url": self.image_url, "url": self.url,
                       "badge": self.badge, "sound": self.sound, "localizations": self.localizations,
                       "actions": self.actions, "ios": self.ios, "web": self.web}  # fmt: skip
            if self.android is not None:
                visible |= {
                    f"android.{k}": v for k, v in self.android.model_dump(exclude={"priority"}).items()
                }
            for field, value in visible.items():
                if value is not None:
                    raise ValueError(
                        f"{field}: a data-only message (content_available) shows nothing; leave it out"
                    )
            return self
        for field in ("title", "body"):
            if getattr(self, field) is None:
                raise ValueError(
                    f"{field}: required (or send a data-only message with content_available: true)"
                )
        ids = [action.id for action in self.actions or []]
        if len(set(ids)) != len(ids):
            raise ValueError("actions: each action needs its own id")
        seen: set[str] = set()
        for locale, text in (self.localizations or {}).items():
            if locale.lower() in seen:
                raise ValueError(f"localizations: {locale!r} is given twice (locales ignore case)")
            seen.add(locale.lower())
            if text.title is None and text.body is None:
                raise ValueError(f"localizations.{locale}: give a title, a body or both")
        return self


# ---------- templates ----------
class _Env(Environment):
    # Bound per-device work: a template cannot loop or print without limit.
    loop_iteration_limit = 1000
    output_stream_limit = 16 * 1024
    local_namespace_limit = 16 * 1024


ENV = _Env()
# No loader: partials would fail per device at render, so refuse them at parse time instead.
for _tag in ("include", "render"):
    ENV.tags.pop(_tag, None)


@with_context
def years_since(value: object, *, context: Any) -> int | str:
    """Whole years from a YYYY-MM-DD date to the send's local date (`local_date`, else today in UTC):
    `{{ attributes.birthday | years_since }}`. Not a date: empty output, not a failed send."""
    try:
        start = date.fromisoformat(str(value)[:10])
    except ValueError:
        return ""
    raw = context.resolve("local_date", default=None)
    try:
        today = date.fromisoformat(str(raw)) if raw else datetime.now(UTC).date()
    except ValueError:
        today = datetime.now(UTC).date()
    years = today.year - start.year - ((today.month, today.day) < (start.month, start.day))
    if (start.month, start.day) == (2, 29) and (today.month, today.day) == (2, 28) and not isleap(today.year):
        years += 1  # a 29 February date is celebrated on 28 February in common years
    return max(0, years)


ENV.filters["years_since"] = years_since

Template = str | BoundTemplate  # a str has no Liquid markup and is used as is


def _describe(exc: LiquidError) -> str:
    where = exc.context()
    return f"{exc.message} (line {where[0]}, column {where[1]})" if where else str(exc.message)


def _parse(source: str, field: str) -> Template:
    if "{{" not in source and "{%" not in source:
        return source
    try:
        template = ENV.from_string(source)
        unknown = sorted(set(template.filter_names(include_partials=False)) - ENV.filters.keys())
    except LiquidError as exc:
        raise TemplateError(field, _describe(exc)) from exc
    if unknown:
        raise TemplateError(field, f"unknown filter {unknown[0]!r}")
    return template


def _render(template: Template, context: Mapping[str, Any], field: str) -> str:
    if isinstance(template, str):
        return template
    try:
        return template.render(context).strip()
    except LiquidError as exc:
        raise RenderError(field, _describe(exc)) from exc


def _lookup(device_locale: str | None, by_lower: Mapping[str, str]) -> str | None:
    if not device_locale or not by_lower:
        return None
    subtags = device_locale.replace("_", "-").lower().split("-")
    while subtags:
        found = by_lower.get("-".join(subtags))
        if found is not None:
            return found
        subtags.pop()
    return None


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    title: str
    body: str
    url: str | None = None
    image_url: str | None = None
    data: Mapping[str, str | bool | int | float] | None = None
    badge: int | None = None
    sound: str | None = None
    actions: tuple[Action, ...] = ()
    ios: IosOptions | None = None
    android: AndroidOptions | None = None
    web: WebOptions | None = None
    content_available: bool = False  # data-only: nothing shown, only `data` reaches the app


def _static_fields(message: Message) -> dict[str, Any]:
    """What a rendered message takes from its Message as is (no templates)."""
    return {
        "image_url": message.image_url, "data": message.data, "badge": message.badge, "sound": message.sound,
        "actions": tuple(message.actions or ()), "ios": message.ios, "android": message.android,
        "web": message.web, "content_available": message.content_available,
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Variant:
    title: Template
    body: Template
    title_field: str
    body_field: str
    reads: tuple[tuple[str | int, ...], ...] | None = ()  # see _reads; None: not memoisable


_MISSING = object()
_SPECIAL_PROPERTIES = frozenset({"size", "first", "last"})  # Liquid reads these off a container itself
_CLOCK_FILTERS = frozenset({"date", "years_since"})  # output that depends on when it renders ("now" | date)


def _reads(*templates: Template | None) -> tuple[tuple[str | int, ...], ...] | None:
    """The device paths these templates read (literal prefixes), or None when their output may depend on
    more than the device (the clock). Two devices equal on every path render the same text."""
    paths: set[tuple[str | int, ...]] = set()
    for template in templates:
        if template is None or isinstance(template, str):
            continue
        if _CLOCK_FILTERS & set(template.filter_names(include_partials=False)):
            return None
        for segments in template.variable_segments(include_partials=False):
            literal: list[str | int] = []
            for segment in segments:
                if not isinstance(segment, str | int) or isinstance(segment, bool):
                    break  # attributes[tags.key]: the key is a variable; the walk stops at `attributes`
                literal.append(segment)
            paths.add(tuple(literal))
    return tuple(sorted(paths, key=repr))


def _value_at(context: Mapping[str, Any], path: tuple[str | int, ...]) -> Any:
    """What a template sees at `path`, or the value where Liquid would stop walking (a string's .size
    depends on the string; a missing key on nothing more; a container's special property on it)."""
    if not path or path[0] not in CONTEXT_FIELDS:
        return _MISSING  # render() passes only the profile fields to templates
    value: Any = context
    for segment in path:
        if isinstance(value, Mapping) and isinstance(segment, str):
            if segment in value:
                value = value[segment]
            elif segment in _SPECIAL_PROPERTIES:
                return value  # attributes.size is len(attributes): the whole mapping decides
            else:
                return _MISSING
        elif isinstance(value, list) and isinstance(segment, int) and -len(value) <= segment < len(value):
            value = value[segment]
        else:
            return value
    return value


class CompiledMessage:
    """A campaign message with every template parsed once; render() runs per device."""

    __slots__ = (
        "_by_locale",
        "_by_lower",
        "_default",
        "_static",
        "_url",
        "_url_field",
        "_variants",
        "campaign_id",
        "message",
    )

    def __init__(
        self,
        message: Message,
        campaign_id: str,
        default: _Variant,
        url: Template | None,
        variants: dict[str, _Variant],
        *,
        url_field: str,
    ) -> None:
        self.message = message
        self.campaign_id = campaign_id
        self._default = default
        self._url = url
        self._url_field = url_field
        self._variants = variants
        self._by_lower = {key.lower(): key for key in variants}
        self._by_locale: dict[str | None, _Variant] = {}
        self._static = _static_fields(message)

    @classmethod
    def compile(cls, message: Message, campaign_id: str, *, prefix: str = "message") -> CompiledMessage:
        """Parse every template once; TemplateError names the first field that does not parse."""
        title = _parse(message.title or "", f"{prefix}.title")  # "": a data-only message shows no text
        body = _parse(message.body or "", f"{prefix}.body")
        url = _parse(message.url, f"{prefix}.url") if message.url else None
        default = _Variant(title, body, f"{prefix}.title", f"{prefix}.body", _reads(title, body, url))
        variants: dict[str, _Variant] = {}
        for locale, text in (message.localizations or {}).items():
            field = f"{prefix}.localizations.{locale}"
            local_title = _parse(text.title, f"{field}.title") if text.title else title
            local_body = _parse(text.body, f"{field}.body") if text.body else body
            variants[locale] = _Variant(
                local_title, local_body,
                f"{field}.title" if text.title else default.title_field,
                f"{field}.body" if text.body else default.body_field,
                _reads(local_title, local_body, url),
            )  # fmt: skip
        return cls(message, campaign_id, default, url, variants, url_field=f"{prefix}.url")

    def _variant(self, device_locale: str | None) -> _Variant:
        variant = self._by_locale.get(device_locale)
        if variant is None:
            key = _lookup(device_locale, self._by_lower)
            variant = self._variants[key] if key is not None else self._default
            if len(self._by_locale) < _LOCALE_CACHE_MAX:
                self._by_locale[device_locale] = variant
        return variant

    def render_key(self, device: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """A key equal for two devices only if they render the same message; None when there is none.

        It holds the locale's variant and the type and value of every path the templates read, so a
        campaign personalised on a first name renders once per distinct name and locale."""
        variant = self._variant(device.get("locale"))
        if variant.reads is None:
            return None
        key: list[Any] = [id(variant)]
        for path in variant.reads:
            value = _value_at(device, path)
            key.append(value.__class__)  # True, 1 and 1.0 are equal keys but print differently
            key.append(value)
        try:
            hash(key_tuple := tuple(key))
        except TypeError:  # a list or mapping decides the output: render it
            return None
        return key_tuple

    def render(self, device: Mapping[str, Any]) -> RenderedMessage:
        """The message for one device; raises RenderError when the device's data breaks a template."""
        variant = self._variant(device.get("locale"))
        context = {key: device[key] for key in CONTEXT_FIELDS if key in device}
        url = None if self._url is None else _render(self._url, context, self._url_field) or None
        return RenderedMessage(
            title=_render(variant.title, context, variant.title_field),
            body=_render(variant.body, context, variant.body_field),
            url=url,
            **self._static,
        )


# ---------- what a device receives ----------
def actions_category(actions: Iterable[Action]) -> str:
    """The APNs category for a message's buttons when it names none: "pe." and the action ids, so the app
    (or its Notification Service Extension, from the payload's "actions") registers one category per set."""
    return "pe." + ".".join(action.id for action in actions)


def _action(action: Action) -> dict[str, str]:
    out = {"id": action.id, "title": action.title}
    if action.url is not None:
        out["url"] = action.url
    return out


def apns_payload(r: RenderedMessage, campaign_id: str) -> dict[str, Any]:
    """The APNs JSON body. A data-only message is a background push: `content-available` and nothing shown
    (the adapter sends it with apns-push-type: background and apns-priority: 5)."""
    if r.content_available:
        payload: dict[str, Any] = {"aps": {"content-available": 1}, "campaign_id": campaign_id}
        if r.data:
            payload["data"] = dict(r.data)
        return payload
    ios = r.ios or IosOptions()
    alert: dict[str, Any] = {"title": r.title}
    if ios.subtitle is not None:
        alert["subtitle"] = ios.subtitle
    alert["body"] = r.body
    aps: dict[str, Any] = {"alert": alert}
    if r.badge is not None:
        aps["badge"] = r.badge
    if r.sound is not None:
        aps["sound"] = r.sound
    if r.image_url is not None or (r.actions and ios.category is None):
        # the Notification Service Extension attaches the image / registers the payload's buttons
        aps["mutable-content"] = 1
    if ios.category is not None or r.actions:
        aps["category"] = ios.category if ios.category is not None else actions_category(r.actions)
    if ios.thread_id is not None:
        aps["thread-id"] = ios.thread_id
    if ios.interruption_level is not None:
        aps["interruption-level"] = ios.interruption_level
    if ios.relevance_score is not None:
        aps["relevance-score"] = ios.relevance_score
    payload = {"aps": aps, "campaign_id": campaign_id}
    if r.url is not None:
        payload["url"] = r.url
    if r.image_url is not None:
        payload["image_url"] = r.image_url
    if r.actions:
        payload["actions"] = [_action(a) for a in r.actions]
    if r.data:
        payload["data"] = dict(r.data)
    return payload


def _fcm_string(value: str | bool | int | float) -> str:
    # JSON spelling (true, 1.5), so apps parse the same text on every platform.
    return value if isinstance(value, str) else json.dumps(value)


def fcm_message(r: RenderedMessage, campaign_id: str) -> dict[str, Any]:
    """The FCM v1 `message` object without token; the FCM adapter adds token, android.ttl, collapse_key.

    A data-only message has no `notification`: the app's FirebaseMessagingService gets onMessageReceived.
    Buttons travel in data["actions"] (JSON), since FCM's own notification has none: the app builds them."""
    data = {key: _fcm_string(value) for key, value in (r.data or {}).items()}
    data["campaign_id"] = campaign_id
    options = r.android or AndroidOptions()
    android: dict[str, Any] = {}
    if options.priority is not None:
        android["priority"] = options.priority.upper()
    if r.content_available:
        message: dict[str, Any] = {"data": data}
        if android:
            message["android"] = android
        return message
    notification: dict[str, Any] = {"title": r.title, "body": r.body}
    if r.image_url is not None:
        notification["image"] = r.image_url
    if r.url is not None:
        data["url"] = r.url
    if r.actions:
        data["actions"] = json.dumps(
            [_action(a) for a in r.actions], separators=(",", ":"), ensure_ascii=False
        )
    shown: dict[str, Any] = {}
    for key in ("channel_id", "color", "icon", "tag", "sticky", "click_action"):
        if (value := getattr(options, key)) is not None:
            shown[key] = value
    if r.sound is not None:
        shown["sound"] = r.sound
    if r.badge is not None:
        shown["notification_count"] = r.badge
    if shown:
        android["notification"] = shown
    message = {"notification": notification, "data": data}
    if android:
        message["android"] = android
    return message


def webpush_payload(r: RenderedMessage, campaign_id: str, collapse_id: str) -> dict[str, Any]:
    """The JSON the service worker (sdk/web/push-sw.js) receives; `tag` makes a repeat replace the shown
    notification. A data-only message is `{"data_only": true, data?, campaign_id}`: the worker shows nothing
    and posts it to the site's open pages."""
    if r.content_available:
        data_only: dict[str, Any] = {"data_only": True}
        if r.data:
            data_only["data"] = dict(r.data)
        data_only["campaign_id"] = campaign_id
        return data_only
    web = r.web or WebOptions()
    payload: dict[str, Any] = {"title": r.title, "body": r.body}
    if web.icon is not None:
        payload["icon"] = web.icon
    if r.image_url is not None:
        payload["image"] = r.image_url
    if web.badge is not None:
        payload["badge"] = web.badge
    if r.url is not None:
        payload["url"] = r.url
    if r.data:
        payload["data"] = dict(r.data)
    if r.actions:
        payload["actions"] = [_action(a) for a in r.actions]
    payload["campaign_id"] = campaign_id
    payload["tag"] = collapse_id
    for key in ("require_interaction", "renotify", "silent"):
        if (value := getattr(web, key)) is not None:
            payload[key] = value
    return payload


def payload_size(payload: Mapping[str, Any]) -> int:
    """Bytes on the wire: compact UTF-8 JSON, as the provider adapters send it."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())


def collapse_id(campaign_id: str) -> str:
    """32 base64url chars: fits apns-collapse-id (64 bytes), FCM collapse_key and the Web Push Topic (32)."""
    digest = hashlib.sha256(campaign_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()[:32]


# ---------- size check at campaign creation ----------
def _worst_case(source: str) -> str:
    return _OUTPUT.sub(lambda m: "x" * max(VARIABLE_ESTIMATE, len(m.group().encode())), source)


def check_sizes(message: Message, campaign_id: str, *, prefix: str = "message") -> None:
    """Raise PayloadTooLarge when any locale's worst-case payload exceeds a platform's limit."""
    texts = [(prefix, message.title or "", message.body or "")] + [
        (
            f"{prefix}.localizations.{locale}",
            text.title or message.title or "",
            text.body or message.body or "",
        )
        for locale, text in (message.localizations or {}).items()
    ]
    url = _worst_case(message.url) if message.url else None
    tag = collapse_id(campaign_id)
    for field, title, body in texts:
        r = RenderedMessage(_worst_case(title), _worst_case(body), url, **_static_fields(message))
        for platform, size, limit in (
            ("apns", payload_size(apns_payload(r, campaign_id)), MAX_PAYLOAD),
            ("fcm", payload_size({"message": fcm_message(r, campaign_id)}), MAX_PAYLOAD),
            ("webpush", payload_size(webpush_payload(r, campaign_id, tag)), WEBPUSH_MAX_PLAINTEXT),
        ):
            if size > limit:
                raise PayloadTooLarge(platform, size, limit, field=field)
