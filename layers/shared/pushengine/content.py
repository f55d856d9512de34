"""What a notification says: the message contract a campaign, template or direct send is written in
(title, body, url and localizations are Liquid templates; `pushengine.rendering` compiles them), and a
message rendered for one device, which `pushengine.payloads` shapes for each push service.

Direct sends (one message to named users) are `pushengine.messages`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

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

from pushengine.limits import Storable

MAX_ACTIONS = 3  # buttons a notification shows: Chrome shows 2, Android 3, iOS up to 4 in its long look
# BCP 47 language tag: language, optional script, optional region (alpha-2 or UN M.49), variants
LOCALE_PATTERN = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z]{4})?(-([A-Za-z]{2}|\d{3}))?(-[A-Za-z0-9]{5,8})*$")
# FCM reserves these data keys (or we fill them ourselves), so a campaign may not set them.
_RESERVED_DATA_KEYS = frozenset(
    {"campaign_id", "url", "actions", "from", "notification", "message_type", "collapse_key"}
)
_RESERVED_DATA_PREFIXES = ("google.", "gcm.")
# Schemes that would run code or leave the secure web when a browser or app opens the link.
_FORBIDDEN_SCHEMES = frozenset({"http", "javascript", "data", "file", "vbscript", "blob", "about", "ftp"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://\S")


def _locale(value: str) -> str:
    if not LOCALE_PATTERN.match(value):
        raise ValueError(f"{value!r} is not a BCP 47 language tag (e.g. de, pt-BR, es-419, zh-Hant-TW)")
    return value


Locale = Annotated[str, AfterValidator(_locale)]


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


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """A message as one device receives it: its templates rendered, everything else as written."""

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
    lang: str | None = None  # the localization's locale the text came from; None: the default text


def static_fields(message: Message) -> dict[str, Any]:
    """What a rendered message takes from its Message as is (no templates)."""
    return {
        "image_url": message.image_url, "data": message.data, "badge": message.badge, "sound": message.sound,
        "actions": tuple(message.actions or ()), "ios": message.ios, "android": message.android,
        "web": message.web, "content_available": message.content_available,
    }  # fmt: skip
