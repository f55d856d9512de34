"""An experiment's run after creation: the decision `decide_after` the test send, made once, and the waves
that send the winner to the rest of the audience (the devices outside the test share, `targeting.REST`).

The test waves reach the variants and the holdout only. The decision comes on the segment query function
from a one-time Scheduler schedule, like a wave: it compares the variants (pushengine.experiments) and,
in one conditional write (`CampaignStore.settle_experiment`), stores the outcome and the rest's waves: at
once for `now` and `at`; for `local_time`, each zone at the schedule's wall time on the day after its test
send, or the first later day still to come. The decision counts as a pending wave from creation, so the
campaign cannot complete before the rest has been sent. A second firing finds the experiment decided and
only makes sure the rest's waves are scheduled.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pushengine import experiments, waves
from pushengine.analytics import PAYING
from pushengine.campaign_status import CampaignStatus
from pushengine.dal.scheduler import schedule_name
from pushengine.models import CampaignFields, Experiment, ExperimentComparison, ExperimentOut, parse_delay
from pushengine.observability import logger
from pushengine.ports import CampaignStore, Queue, Scheduler
from pushengine.queue_messages import DecideExperiment, WaveDue
from pushengine.targeting import HOLDOUT, REST

DECIDE = "decide"  # the audience message kind, and the decision's schedule's name suffix
MAX_DAYS_AHEAD = 10  # decide_after is at most P7D, and a zone's test send at most a day and a half away


def tested(spec: CampaignFields) -> list[str]:
    """Who a test wave reaches: every variant's devices, and the holdout's (counted, never sent)."""
    return [*(v.name for v in spec.variants or []), HOLDOUT]


def testing(experiment: Experiment, campaign_id: str, send_times: Iterable[datetime]) -> dict[str, Any]:
    """The experiment's record at creation (or edit): `decide_after` after its last test wave."""
    decide_at = max(send_times) + parse_delay(experiment.decide_after)
    return {"status": "testing", "decide_at": decide_at.isoformat(), "schedule": schedule_name(campaign_id, DECIDE)}


def schedule_decision(scheduler: Scheduler, app_id: str, campaign_id: str, record: Mapping[str, Any]) -> None:
    payload = DecideExperiment(app_id=app_id, campaign_id=campaign_id).body()
    scheduler.create(record["schedule"], datetime.fromisoformat(record["decide_at"]), payload)


def arms(experiment: Experiment, variants: Sequence[str], vstats: Mapping[str, Mapping[str, Any]]) -> list[experiments.Arm]:
    """Each variant's outcome on the metric: devices that did it over devices it targeted. `revenue` counts
    the devices with a revenue-bearing conversion (a proportion, as the others: no per-device sums kept)."""
    key = PAYING if experiment.metric == "revenue" else experiment.metric
    return [
        experiments.Arm(name, int((vstats.get(name) or {}).get(key, 0)), int((vstats.get(name) or {}).get("targeted", 0)))
        for name in variants
    ]


def rest_waves(
    schedule: Any, campaign_id: str, test_waves: Sequence[Mapping[str, Any]], decided_at: datetime
) -> list[dict[str, Any]]:
    """The rest's waves as stored: one at the decision for `now` and `at`; for `local_time`, each zone of
    the test waves at the wall time of the next day after its own test send that is still to come."""
    if schedule.type != "local_time":
        at = waves.plan_now(decided_at)[0]
        return [_stored(campaign_id, at.wave_id + "-rest", at.send_at, [])]
    wall = time.fromisoformat(schedule.time)
    groups: dict[datetime, list[str]] = {}
    for wave in test_waves:
        if REST in (wave.get("variants") or []):
            continue
        sent = datetime.fromisoformat(wave["send_at"])
        for zone in wave["zones"]:
            if not waves.is_valid_zone(zone):
                continue
            day = sent.astimezone(ZoneInfo(zone)).date()
            for _ in range(MAX_DAYS_AHEAD):
                day += timedelta(days=1)
                instant = waves.local_instant(day, wall, zone)
                if instant > decided_at:
                    groups.setdefault(instant, []).append(zone)
                    break
    return [
        _stored(campaign_id, w.wave_id + "-rest", w.send_at, list(w.time_zones))
        for w in (waves.Wave.at(instant, zones) for instant, zones in sorted(groups.items()))
    ]


def _stored(campaign_id: str, wave_id: str, send_at: datetime, zones: list[str]) -> dict[str, Any]:
    return {"wave_id": wave_id, "send_at": send_at.isoformat(), "zones": zones,
            "schedule": schedule_name(campaign_id, wave_id), "variants": [REST]}  # fmt: skip


def decided(
    record: Mapping[str, Any], outcome: experiments.Decision, at: datetime, rest: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The experiment's record once decided: the winner, why, every comparison, and the rest's waves."""
    return {
        **record,
        "status": "decided",
        "decided_at": at.isoformat(),
        "winner": outcome.winner,
        "conclusive": outcome.conclusive,
        "reason": outcome.reason,
        "comparisons": [c.view() for c in outcome.comparisons],
        **({"overall_p_value": experiments.storable(outcome.overall_p)} if outcome.overall_p is not None else {}),
        "rest_waves": [w["wave_id"] for w in rest],
    }


def decide(
    campaigns: CampaignStore, scheduler: Scheduler, queue: Queue, audience_queue: str, max_message: int,
    app_id: str, campaign_id: str, now: datetime,
) -> bool:  # fmt: skip
    """Make the experiment's decision (once) and send the rest its winner; True if this call decided."""
    item = campaigns.get(app_id, campaign_id, consistent=True)  # summed: every variant's stats
    record = (item or {}).get("experiment")
    if item is None or not record:
        return False
    if record.get("status") != "testing":  # decided already: its rest waves are scheduled, or are now
        _send_rest(scheduler, queue, audience_queue, max_message, item, now)
        return False
    if item["status"] in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
        logger.info("experiment not decided: campaign over", extra={"campaign_id": campaign_id})
        return False
    now = max(now, datetime.fromisoformat(record["decide_at"]))  # as of its instant, or later if it fired late
    spec = item["spec"]
    experiment: Experiment = spec.experiment
    outcome = experiments.decide(
        arms(experiment, [v.name for v in spec.variants or []], item.get("vstats") or {}),
        experiment.min_confidence,
        experiment.fallback,
    )
    rest = rest_waves(spec.schedule, campaign_id, item["waves"], now)
    definition = campaigns.definition(app_id, campaign_id, consistent=True)
    if definition is None:
        return False
    stored = {
        **definition,
        "spec": definition["spec"].model_dump(mode="json", exclude_none=True),
        "revision": int(item.get("revision") or 0) + 1,
        "waves": [*definition["waves"], *rest],
        "experiment": decided(record, outcome, now, rest),
    }
    if not campaigns.settle_experiment(stored, len(rest)):
        return False
    logger.info("experiment decided", extra={"campaign_id": campaign_id, "winner": outcome.winner,
                                             "conclusive": outcome.conclusive, "rest_waves": len(rest)})  # fmt: skip
    if not rest:
        campaigns.try_complete(app_id, campaign_id)
    _send_rest(scheduler, queue, audience_queue, max_message, {**item, **stored}, now)
    return True


def _send_rest(
    scheduler: Scheduler, queue: Queue, audience_queue: str, max_message: int, item: Mapping[str, Any],
    now: datetime,
) -> None:  # fmt: skip
    """Schedule (or queue, when due) each rest wave that has not fired: a schedule of the same name is not
    made twice, and a wave fires once (mark_wave_fired)."""
    fired = set(item.get("fired_waves") or [])
    names = set((item.get("experiment") or {}).get("rest_waves") or [])
    due = []
    for wave in item["waves"]:
        if wave["wave_id"] not in names or wave["wave_id"] in fired:
            continue
        payload = WaveDue(app_id=item["app_id"], campaign_id=item["campaign_id"], wave_id=wave["wave_id"]).body()
        send_at = datetime.fromisoformat(wave["send_at"])
        if waves.due_now(send_at, now):
            due.append(payload)
        else:
            scheduler.create(wave["schedule"], send_at, payload)
    if due:
        queue.send_json(audience_queue, due, max_message=max_message)


def view(record: Mapping[str, Any] | None, experiment: Experiment | None) -> ExperimentOut | None:
    """The experiment as `GET /v1/campaigns/{id}` answers it."""
    if experiment is None:
        return None
    record = record or {}
    return ExperimentOut(
        status=record.get("status", "testing"),
        metric=experiment.metric,
        test_percent=experiment.test_percent,
        decide_at=record.get("decide_at"),
        decided_at=record.get("decided_at"),
        winner=record.get("winner"),
        conclusive=record.get("conclusive"),
        reason=record.get("reason"),
        overall_p_value=record.get("overall_p_value"),
        comparisons=[ExperimentComparison(**c) for c in record.get("comparisons", [])],
    )
