"""Liquid templates of a message: compiled once per campaign, rendered per device, and the render key
that tells when two devices would render the same text.

Everything here is pure (no I/O) and sits on the send hot path, so the per-device work is a dict
look-up for the locale, a small context dict and at most three template renders.

Template context: only the device fields in DEVICE_FIELDS, so a template can never print a token or
subscription, plus what a send adds (SEND_FIELDS: a trigger's `event` {name, properties}, an anniversary's
`local_date`, the send's date in the device's zone) and a direct send's `data`.

Locale fallback (RFC 4647 "lookup"): the device's tag is matched case-insensitively against the
campaign's localizations, then shortened one subtag at a time (zh-Hant-TW -> zh-Hant -> zh), then the
default message is used. Sibling regions are never guessed (pt-BR does not take pt-PT, zh-Hant does
not take zh-Hans): the top-level title/body is the author's explicit fallback.

Worst-case size (`worst_case`, for the size check at campaign creation): a template's rendered text is
estimated as its own source text with every output statement `{{ ... }}` counted as max(64, its own source
bytes), so a literal default longer than 64 bytes counts in full; tags `{% ... %}` count as their source
text, which covers every if/else branch at once. Loops are counted once; the render-time output limit of
the Environment bounds what they can add per device.
"""

from __future__ import annotations

import re
from calendar import isleap
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from liquid import BoundTemplate, Environment
from liquid.exceptions import LiquidError
from liquid.filter import with_context

from pushengine.content import Message, RenderedMessage, static_fields
from pushengine.errors import InvalidInput

# What a template may read of the device (what the audience query copies into each send batch entry),
# and what a send adds beside them (kept when a batch re-reads its devices).
DEVICE_FIELDS = ("attributes", "tags", "locale", "country", "timezone", "platform", "user_id")
SEND_FIELDS = ("event", "local_date")
CONTEXT_FIELDS = (*DEVICE_FIELDS, "data", *SEND_FIELDS)
VARIABLE_ESTIMATE = 64  # bytes assumed for each {{ ... }} output when estimating the worst case
_OUTPUT = re.compile(r"\{\{.*?\}\}", re.DOTALL)
_LOCALE_CACHE_MAX = 512  # distinct device locales remembered per compiled message


class TemplateError(InvalidInput):
    """A message template does not parse: a 400 naming the field, e.g. message.localizations.de.title."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)


class RenderError(ValueError):
    """A device's data broke a template (e.g. divided_by: 0): that device fails, not the batch."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


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
class _Variant:
    title: Template
    body: Template
    title_field: str
    body_field: str
    reads: tuple[tuple[str | int, ...], ...] | None = ()  # see _reads; None: not memoisable
    lang: str | None = None  # the localization's locale; None: the default text


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
        self._static = static_fields(message)

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
                _reads(local_title, local_body, url), locale,
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
            lang=variant.lang,
        )


def worst_case(source: str) -> str:
    """The longest text a template can render to, by the rule in the module docstring."""
    return _OUTPUT.sub(lambda m: "x" * max(VARIABLE_ESTIMATE, len(m.group().encode())), source)
