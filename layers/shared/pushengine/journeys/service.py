"""The journeys API's logic: create, read, list, new versions, pause, resume, stop, a device's path."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pushengine.analytics import currency_of
from pushengine.dal.apps import now_iso
from pushengine.errors import Conflict, InvalidInput, NotFound
from pushengine.journeys import entry, webhook
from pushengine.journeys import steps as step_campaigns
from pushengine.journeys.engine import CONVERSIONS, LISTENING, listening
from pushengine.journeys.model import (
    EnrolmentOut,
    EventEntry,
    JourneyCreated,
    JourneyIn,
    JourneyOut,
    JourneyPage,
    SendStep,
    WaitForStep,
    WebhookStep,
)
from pushengine.journeys.store import JourneyStore
from pushengine.ports import CampaignStore, Queue
from pushengine.queue_messages import JourneyResume

EXITS = ("exit_on", "holdout", "removed", "stopped")
STEP_STATS = ("entered", "waiting", "sent", "failed", "retried", "deferred", "delivered", "opened", "clicked", "converted",
              "suppressed_quiet_hours", "suppressed_opted_out", "suppressed_unregistered", "held_out")  # fmt: skip


@dataclass
class JourneyApiDeps:
    store: JourneyStore
    campaigns: CampaignStore
    queue: Queue
    audience_queue_url: str
    resolve_template: Callable[[str, str], dict[str, Any]]
    max_message_bytes: int = 262_144
    outbound_hosts: Sequence[str] = ()  # the webhook allow-list (Settings.allowed_outbound_hosts)
    webhook_secret: Callable[[str], str | None] = lambda app_id: None  # the app's signing secret
    campaign_deps: Any = None  # campaigns.CampaignDeps: a scheduled entry's campaign (journeys.entry)


def new_journey_id(now: datetime) -> str:
    return f"jrn{int(now.timestamp() * 1000):012x}{secrets.token_hex(3)}"


def _roles(body: JourneyIn) -> dict[str, list[str]]:
    waits = sorted({s.event for s in body.parsed_steps().values() if isinstance(s, WaitForStep)})
    entries = [body.entry.event] if isinstance(body.entry, EventEntry) else []
    sends = any(isinstance(s, SendStep) for s in body.parsed_steps().values())
    return {"entry": entries, "exit": list(body.exit_on), "wait": waits,
            "convert": list(CONVERSIONS) if sends else []}  # fmt: skip


def _check_buildable(deps: JourneyApiDeps, app_id: str, body: JourneyIn, now: datetime, *,
                     new_entry: bool = True) -> None:  # fmt: skip
    """What the models cannot check alone: a scheduled entry's schedule and segment, a webhook's URL against
    the outbound policy, and that the app has a secret to sign it with (an app made before webhooks rotates
    one in first)."""
    if new_entry and entry.scheduled(body):
        if deps.campaign_deps is None:
            raise InvalidInput("scheduled entries are not available here", field="body.entry")
        entry.check(deps.campaign_deps, app_id, body, now)
    for step_id, step in body.parsed_steps().items():
        if not isinstance(step, WebhookStep):
            continue
        field = f"body.steps.{step_id}.url"
        try:
            webhook.check(step.url, deps.outbound_hosts, field=field)
        except ValueError as exc:
            raise InvalidInput(str(exc).removeprefix(f"{field}: "), field=field) from None
        if not deps.webhook_secret(app_id):
            raise InvalidInput("this app has no webhook signing secret: POST /v1/apps/{app_id}/webhook-secret "
                               "issues one", field=field)  # fmt: skip


def create(deps: JourneyApiDeps, app_id: str, body: JourneyIn, now: datetime | None = None) -> JourneyCreated:
    now = now or datetime.now(UTC)
    _check_buildable(deps, app_id, body, now)
    journey_id = new_journey_id(now)
    specs = step_campaigns.specs(journey_id, body, lambda t, f: deps.resolve_template(app_id, t))
    step_campaigns.create(deps.campaigns, app_id, journey_id, 1, specs)
    item = {"app_id": app_id, "journey_id": journey_id, "name": body.name, "status": "active", "version": 1,
            "created_at": now_iso(), "definition": body.model_dump(mode="json", by_alias=True, exclude_none=True),
            "campaigns": specs, "listening": LISTENING, **_pace_campaign(journey_id, 1, specs, None),
            **_entry_campaign(journey_id, 1, body)}  # fmt: skip
    deps.store.put_journey(item, expected_version=None)
    deps.store.listen(app_id, journey_id, _roles(body))
    entry.create(deps.campaign_deps, app_id, journey_id, 1, body, now)  # after the journey: it may fire at once
    return JourneyCreated(journey_id=journey_id, status="active", version=1)


def _entry_campaign(journey_id: str, version: int, body: JourneyIn) -> dict[str, str]:
    return {"entry_campaign": entry.campaign_id(journey_id, version)} if entry.scheduled(body) else {}


def _pace_campaign(
    journey_id: str, version: int, specs: dict[str, Any], kept: str | None
) -> dict[str, str]:
    """The step campaign whose progress item holds the journey's one pacing timeline (max_per_second over
    all its sends): the first ever made, kept across versions."""
    if kept:
        return {"pace_campaign": kept}
    return {"pace_campaign": step_campaigns.campaign_id(journey_id, min(specs), version)} if specs else {}


def _get(deps: JourneyApiDeps, app_id: str, journey_id: str) -> dict[str, Any]:
    found = deps.store.journey(app_id, journey_id)
    if found is None:
        raise NotFound("no journey with this id")
    return listening(deps.store, found)


def stats_view(raw: Mapping[str, float], step_ids: list[str]) -> dict[str, Any]:
    exited = {name: int(raw.get(f"exited_{name}", 0)) for name in EXITS}
    entered, completed = int(raw.get("entered", 0)), int(raw.get("completed", 0))
    return {
        "entered": entered, "active": entered - completed - sum(exited.values()), "completed": completed,
        "exited": exited, "steps": {s: _step_stats(raw, s) for s in step_ids},
    }  # fmt: skip


def _step_stats(raw: Mapping[str, float], step_id: str) -> dict[str, Any]:
    out: dict[str, Any] = {k: int(raw.get(f"step.{step_id}.{k}", 0)) for k in STEP_STATS}
    prefix = f"step.{step_id}."
    revenue: dict[str, float] = {}
    for key, amount in raw.items():
        currency = currency_of(key[len(prefix) :]) if key.startswith(prefix) else None
        if currency is not None:
            revenue[currency] = round(amount, 2)
    out["revenue_by_currency"] = dict(sorted(revenue.items()))
    return out


def view(deps: JourneyApiDeps, journey: dict[str, Any]) -> JourneyOut:
    steps = list(journey["definition"]["steps"])
    return JourneyOut(
        journey_id=journey["journey_id"], name=journey["name"], status=journey["status"],
        version=int(journey["version"]), created_at=journey["created_at"], definition=journey["definition"],
        stats=stats_view(deps.store.stats(journey["app_id"], journey["journey_id"]), steps),
    )  # fmt: skip


def get(deps: JourneyApiDeps, app_id: str, journey_id: str) -> JourneyOut:
    return view(deps, _get(deps, app_id, journey_id))


def list_journeys(deps: JourneyApiDeps, app_id: str, *, limit: int = 25, next_token: str | None = None) -> JourneyPage:
    """Newest first, `limit` a page; `next_token` is the last journey id of the page before."""
    items = sorted(deps.store.journeys(app_id), key=lambda j: str(j["journey_id"]), reverse=True)
    if next_token is not None:
        items = [j for j in items if str(j["journey_id"]) < next_token]
    page = items[:limit]
    token = str(page[-1]["journey_id"]) if len(items) > limit else None
    return JourneyPage(journeys=[{k: j[k] for k in ("journey_id", "name", "status", "version", "created_at")}
                                 for j in page], next_token=token)  # fmt: skip


def replace(
    deps: JourneyApiDeps, app_id: str, journey_id: str, body: JourneyIn, now: datetime | None = None
) -> JourneyOut:
    """A new version: enrolled devices carry on by step id; one on a removed step exits when it next moves."""
    now = now or datetime.now(UTC)
    current = _get(deps, app_id, journey_id)
    keep = entry.same_entry(current["definition"], body)  # then its campaign stays (it may have fired)
    _check_buildable(deps, app_id, body, now, new_entry=not keep)
    if current["status"] == "stopped":
        raise Conflict("a stopped journey takes no new version")
    version = int(current["version"]) + 1
    specs = step_campaigns.specs(journey_id, body, lambda t, f: deps.resolve_template(app_id, t))
    step_campaigns.create(deps.campaigns, app_id, journey_id, version, specs)
    item = {**current, "name": body.name, "version": version, "campaigns": specs, "listening": LISTENING,
            "definition": body.model_dump(mode="json", by_alias=True, exclude_none=True),
            **_pace_campaign(journey_id, version, specs, current.get("pace_campaign"))}  # fmt: skip
    if not keep:
        item.pop("entry_campaign", None)
        item.update(_entry_campaign(journey_id, version, body))
    if not deps.store.put_journey(item, expected_version=int(current["version"])):
        raise Conflict("the journey changed meanwhile: read it again")
    if not keep:  # the old entry stops; the new one plans its waves
        entry.follow(deps.campaign_deps, app_id, current, "stop")
        entry.create(deps.campaign_deps, app_id, journey_id, version, body, now)
    old = JourneyIn.model_validate(current["definition"])
    deps.store.unlisten(app_id, journey_id, _roles(old))
    deps.store.listen(app_id, journey_id, _roles(body))
    return view(deps, {**item})


def set_status(deps: JourneyApiDeps, app_id: str, journey_id: str, action: str) -> JourneyOut:
    journey = _get(deps, app_id, journey_id)
    to, allowed = {"pause": ("paused", ("active",)), "resume": ("active", ("paused",)),
                   "stop": ("stopped", ("active", "paused"))}[action]  # fmt: skip
    if journey["status"] == to:
        return view(deps, journey)
    if not deps.store.set_status(app_id, journey_id, to, allowed):
        raise Conflict(f"a {journey['status']} journey cannot {action}")
    if action == "resume":
        deps.queue.send_json(deps.audience_queue_url, [JourneyResume(app_id=app_id, journey_id=journey_id).body()],
                             max_message=deps.max_message_bytes)
    if action == "stop":
        deps.store.unlisten(app_id, journey_id, {"entry": _roles(JourneyIn.model_validate(journey["definition"]))["entry"]})
    entry.follow(deps.campaign_deps, app_id, journey, action)
    return view(deps, {**journey, "status": to})


def device_path(deps: JourneyApiDeps, app_id: str, journey_id: str, device_id: str) -> EnrolmentOut:
    _get(deps, app_id, journey_id)
    found = deps.store.enrolment(app_id, journey_id, device_id)
    if found is None:
        raise NotFound("this device has not entered this journey")
    return EnrolmentOut(
        journey_id=journey_id, device_id=device_id, state=str(found["state"]),
        step=found.get("step"), version=int(found["version"]), entered_at=str(found["entered_at"]),
        path=list(found.get("path") or []),
    )  # fmt: skip
