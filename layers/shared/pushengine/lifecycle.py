"""A campaign's lifecycle after creation: pause, resume, and edits until its first wave fires.

Paused: the sender re-queues each batch it receives with a delay (delivery.lifecycle), audience tasks
wait the same way, and a wave whose schedule fires is held (fire_wave does nothing). Resume queues
every wave that came due meanwhile, unless the schedule says `if_passed: skip`, which skips them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pushengine import campaigns
from pushengine.campaigns import CampaignDeps, campaign_out, check_messages, check_stored_size, plan
from pushengine.dal.campaigns import PROGRESS_FIELDS, parsed
from pushengine.dal.queues import send_json
from pushengine.dal.scheduler import schedule_name
from pushengine.errors import Conflict, NotFound
from pushengine.models import CampaignIn, CampaignOut, LocalTimeSchedule

EDITABLE = ("name", "message", "template_id", "audience", "schedule")


def _load(deps: CampaignDeps, app_id: str, campaign_id: str) -> dict[str, Any]:
    item = deps.campaigns.get(app_id, campaign_id, consistent=True)
    if item is None or campaign_id.startswith("msg_"):
        raise NotFound("campaign not found", field="campaign_id")
    return item


def pause(deps: CampaignDeps, app_id: str, campaign_id: str) -> CampaignOut:
    item = _load(deps, app_id, campaign_id)
    if not deps.campaigns.set_status(app_id, campaign_id, "paused", allowed_from=("scheduled", "sending")):
        raise Conflict(f"campaign is {item['status']}; only scheduled or sending campaigns can be paused")
    return campaigns.get_campaign(deps, app_id, campaign_id)


def resume(deps: CampaignDeps, app_id: str, campaign_id: str, *, now: datetime | None = None) -> CampaignOut:
    now = now or datetime.now(UTC)
    item = _load(deps, app_id, campaign_id)
    fired = set(item.get("fired_waves") or [])
    status = "sending" if fired else "scheduled"
    if not deps.campaigns.set_status(app_id, campaign_id, status, allowed_from=("paused",)):
        raise Conflict(f"campaign is {item['status']}; only a paused campaign can be resumed")
    schedule = item["spec"].schedule
    skip = isinstance(schedule, LocalTimeSchedule) and schedule.if_passed == "skip"
    # due: its schedule fired (or it was queued at once) while paused, so fire_wave held it
    due = [w for w in item["waves"] if w["wave_id"] not in fired
           and (datetime.fromisoformat(w["send_at"]) <= now or not deps.scheduler.exists(w["schedule"]))]  # fmt: skip
    if skip:  # the wall time passed while paused: those zones are skipped, as at creation
        for wave in due:
            deps.campaigns.mark_wave_fired(app_id, campaign_id, wave["wave_id"], 0)
    elif due:  # fire_wave counts each wave once, and the task ledger drops a second fan-out
        s = deps.settings
        send_json(s.audience_queue_url,
                  [{"kind": "wave", "app_id": app_id, "campaign_id": campaign_id, "wave_id": w["wave_id"]}
                   for w in due], max_message=s.max_message_bytes)  # fmt: skip
    deps.campaigns.try_complete(app_id, campaign_id)  # batches that finished while paused
    return campaigns.get_campaign(deps, app_id, campaign_id)


def edit(
    deps: CampaignDeps, app_id: str, campaign_id: str, changes: dict[str, Any], *, now: datetime | None = None
) -> CampaignOut:
    """Replace name, message, audience or schedule while no wave has fired; the waves are planned again."""
    now = now or datetime.now(UTC)
    item = _load(deps, app_id, campaign_id)
    if item.get("fired_waves") or item["status"] not in ("scheduled", "paused"):
        raise Conflict("a wave of this campaign has fired; only a campaign no wave has reached can be edited")
    spec = item["spec"].stored()
    if "message" in changes or "template_id" in changes:
        spec.pop("message", None)
        spec.pop("template_id", None)
    body = CampaignIn.model_validate({**spec, **changes})  # raises the 400 naming the field
    check_messages(body, campaign_id)
    planned, skipped = plan(body, now)
    waves = [{"wave_id": w.wave_id, "send_at": w.send_at.isoformat(), "zones": list(w.time_zones),
              "schedule": schedule_name(campaign_id, w.wave_id)} for w in planned]  # fmt: skip
    definition = {k: v for k, v in item.items() if k not in PROGRESS_FIELDS and k != "fired_waves"}
    definition |= {"name": body.name, "spec": body.model_dump(mode="json", exclude_none=True),
                   "waves": waves, "skipped_zones": skipped}  # fmt: skip
    check_stored_size(definition)
    if not deps.campaigns.replan(app_id, campaign_id, len(planned)):
        raise Conflict("a wave of this campaign fired while it was being edited")
    for wave in item["waves"]:
        deps.scheduler.delete(wave["schedule"])
    deps.campaigns.replace_definition(definition)
    for wave in planned:
        payload = {"kind": "wave", "app_id": app_id, "campaign_id": campaign_id, "wave_id": wave.wave_id}
        deps.scheduler.create(schedule_name(campaign_id, wave.wave_id), max(wave.send_at, now), payload)
    return campaign_out({**item, **parsed(definition), "waves_pending": len(planned)},
                        known_zones=set(deps.devices.zones(app_id)))  # fmt: skip
