"""The audience queue's typed messages: one message of every shape the previous release queued (its producers'
literals and the `events/` Scheduler samples) is parsed into its kind's model and reaches its kind's handler
with every field it carried; a message no model accepts is refused, logged without its values, counted once
on its campaign and dead-lettered."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pushengine import automation, live_activities, rollout
from pushengine import queue_messages as qm
from pushengine.delivery import audience_queue, segment
from pushengine.journeys import engine
from tests.fakes import AUDIENCE, Harness
from tests.fakes_journeys import FakeJourneyStore

pytestmark = pytest.mark.unit

EVENTS = Path(__file__).resolve().parents[2] / "events"
APP, CAMPAIGN, AT = "app_q", "cmp_q", "2026-06-01T09:00:00+00:00"
REACH = {"app_id": APP, "campaign_id": CAMPAIGN, "wave_id": "w0900", "at": AT, "zone": "Europe/Paris"}
OCCURRENCE = {"app_id": APP, "campaign_id": CAMPAIGN, "wave_id": "2026-06-01.w0", "at": AT, "run": "2026-06-01",
              "context": {"local_date": "2026-06-01"}, "variants": ["a"]}  # fmt: skip
CURSOR = {"pk": "app_q#Europe/Paris", "aud": "app_q#Europe/Paris", "ark": "3f2a#d0042"}


def sample(name: str) -> dict[str, Any]:
    """A Scheduler event from `events/`, its placeholders filled."""
    text = (EVENTS / name).read_text()
    for placeholder, value in {"<app id>": APP, "<campaign id>": CAMPAIGN, "<wave id>": "w0900",
                               "<device id>": "d0001", "<now>": AT, "<wave at>": AT}.items():  # fmt: skip
        text = text.replace(placeholder, value)
    event = json.loads(text)
    return json.loads(event["Records"][0]["body"]) if "Records" in event else event


# (the kind's model, the message as the previous release queued it, the handler it must reach)
OLD_SHAPES: dict[str, tuple[type[qm.QueueMessage], dict[str, Any], str]] = {
    "wave (Scheduler sample)": (qm.WaveDue, sample("segment_query_wave_from_scheduler.json"), "fire_wave"),
    "wave without kind (Scheduler, before kinds)": (
        qm.WaveDue, {"app_id": APP, "campaign_id": CAMPAIGN, "wave_id": "w0900"}, "fire_wave"),
    "zone (fire_wave, intelligent)": (qm.ZonePlan, {"kind": "zone", **REACH, "fallback": 540}, "plan_zone"),
    "zone (an occurrence's, with seq)": (
        qm.ZonePlan, {**OCCURRENCE, "seq": 0, "kind": "zone", "zone": "Europe/Paris"}, "plan_zone"),
    "slice": (qm.Slice, {**REACH, "cursors": 300, "run": "2026-06-01", "kind": "slice", "lo": 100, "hi": 200},
              "fan_out"),
    "task (SQS sample)": (qm.CursorTask, sample("segment_query_audience_task_sqs.json"), "run_task"),
    "task continuation, held while paused": (
        qm.CursorTask, {**REACH, "cursors": 4, "kind": "task", "shard": 3, "seq": 2, "cursor": CURSOR, "held": 1},
        "run_task"),
    "task of an anniversary's celebrants": (
        qm.CursorTask, {"kind": "task", **OCCURRENCE, "seq": 0, "zone": "Asia/Tokyo", "shard": 0,
                        "celebrants": {"attribute": "attributes.birthday", "month_days": ["02-28", "02-29"]}},
        "run_task"),
    "release": (qm.ReleaseDue, {"kind": "release", "app_id": APP, "campaign_id": CAMPAIGN,
                                "key": f"defer#{CAMPAIGN}#w0900.Europe/Paris.0.0.d0700.0"}, "release"),
    "decide (Scheduler sample)": (qm.DecideExperiment, sample("segment_query_decide_from_scheduler.json"), "decide"),
    "activity_push continuation": (
        qm.ActivityPush, {"kind": "activity_push", "app_id": APP, "campaign_id": "la_0001", "op": "update1795770000a1b2c3",
                          "seq": 1, "activity": {"payload": {"aps": {"event": "update", "timestamp": 1795770000,
                                                                     "content-state": {"eta": 5}}},
                                                 "ttl_seconds": 28800},
                          "policy": {"rate": 500}, "cursor": {"pk": "la#la_0001", "sk": "tok#d0042"}},
        "activity_fan_out"),
    "trigger (Scheduler sample)": (qm.TriggerDue, sample("segment_query_trigger_from_scheduler.json"), "automation"),
    "trigger held while paused": (qm.TriggerDue, {"kind": "trigger", "app_id": APP, "campaign_id": CAMPAIGN,
                                                  "device_id": "d0001", "gen": 2, "held": 1}, "automation"),
    "occurrence": (qm.OccurrenceDue, {"kind": "occurrence", "app_id": APP, "campaign_id": CAMPAIGN,
                                      "run": "2026-06-01", "wave_id": "w0", "at": AT}, "automation"),
    "plan (the hourly rule's sample)": (qm.PlanOccurrences, sample("segment_query_plan_from_schedule.json"), "automation"),
    "plan (an index job's end)": (qm.PlanOccurrences, {"kind": "plan"}, "automation"),
    "journey_event": (qm.JourneyEvent, {"kind": "journey_event", "app_id": APP, "device_ids": ["d0001"],
                                        "event": {"name": "cart_updated", "device_id": "d0001",
                                                  "properties": {"item_name": "Shoes"}}}, "journey"),
    "journey_enrol": (qm.JourneyEnrol, {"kind": "journey_enrol", "app_id": APP, "journey_id": "jrn_1",
                                        "device_ids": ["d0001", "d0002"], "at": AT, "entry_key": f"{CAMPAIGN}#w0"},
                      "journey"),
    "journey_timer": (qm.JourneyTimer, {"kind": "journey_timer", "app_id": APP, "journey_id": "jrn_1",
                                        "device_id": "d0001", "seq": 3, "due": AT}, "journey"),
    "journey_sweep (the minute's rule)": (qm.JourneySweep, {"kind": "journey_sweep", "time": AT}, "journey"),
    "journey_sweep_shard": (qm.JourneySweepShard, {"kind": "journey_sweep_shard", "shard": 7, "until": AT},
                            "journey"),
    "journey_resume": (qm.JourneyResume, {"kind": "journey_resume", "app_id": APP, "journey_id": "jrn_1"}, "journey"),
}  # fmt: skip


def test_every_kind_has_an_old_shape_here_and_one_handler() -> None:
    assert {model.model_fields["kind"].default for model, _, _ in OLD_SHAPES.values()} == set(qm.KINDS)
    assert set(audience_queue.HANDLERS) == set(qm.KINDS)


@pytest.mark.parametrize("shape", OLD_SHAPES)
def test_an_old_shape_parses_into_its_kinds_model_keeping_every_field(shape: str) -> None:
    model, old, _ = OLD_SHAPES[shape]
    parsed = qm.parse(old)
    assert type(parsed) is model
    assert parsed.body() == {"kind": model.model_fields["kind"].default, **old}  # nothing dropped, nothing added


@pytest.fixture
def reached(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    """Each handler the router can reach, recording what it was given instead of running."""
    calls: list[tuple[str, Any]] = []

    def recorder(name: str, pick: Any) -> Any:
        return lambda *args, **kwargs: calls.append((name, pick(*args)))

    for module, name, label, pick in [
        (segment, "fire_wave", "fire_wave", lambda deps, *ids: ids),
        (segment, "plan_zone", "plan_zone", lambda deps, m: m),
        (segment, "fan_out", "fan_out", lambda deps, m: m),
        (segment, "run_task", "run_task", lambda deps, m, remaining: m),
        (segment, "release", "release", lambda deps, key: key),
        (rollout, "decide", "decide", lambda *args: args[5:7]),
        (live_activities, "fan_out", "activity_fan_out", lambda s, c, a, q, m: m),
        (automation, "handle", "automation", lambda deps, m, remaining: m),
        (engine, "handle", "journey", lambda deps, m, remaining: m),
    ]:
        monkeypatch.setattr(module, name, recorder(label, pick))
    return calls


@pytest.mark.parametrize("shape", OLD_SHAPES)
def test_an_old_shape_reaches_its_kinds_handler_with_what_it_carried(shape: str, reached: list[tuple[str, Any]]) -> None:
    model, old, handler = OLD_SHAPES[shape]
    h = Harness()
    deps = h.segment_deps()
    deps.journeys, deps.activities = FakeJourneyStore(), object()  # type: ignore[assignment]
    audience_queue.handle(deps, json.loads(json.dumps(old)), lambda: h.remaining_millis)
    [(name, given)] = reached
    assert name == handler
    expected = {"kind": model.model_fields["kind"].default, **old}
    if handler == "fire_wave":
        assert given == (APP, CAMPAIGN, "w0900")
    elif handler == "release":
        assert given == old["key"]
    elif handler == "decide":
        assert given == (APP, CAMPAIGN)
    else:
        assert given == expected


def test_a_wave_without_kind_as_the_previous_releases_scheduler_sent_it_reaches_every_device() -> None:
    h = Harness()
    ids = h.web_devices(APP, 30)
    at = {"type": "at", "at": (h.now + timedelta(days=1)).isoformat()}
    campaign_id = h.create_campaign(APP, {"name": "w", "message": {"title": "T", "body": "b"}, "quiet_hours": "ignore",
                                          "schedule": at})  # fmt: skip
    [(_, payload)] = h.scheduler.schedules.values()
    old = {k: v for k, v in payload.items() if k != "kind"}  # as releases before kinds scheduled it
    h.scheduler.schedules.clear()
    audience_queue.handle(h.segment_deps(), old, lambda: h.remaining_millis)
    h.drain()
    assert Counter(h.provider.target(n).rsplit("/", 1)[1] for n in h.provider.sent) == Counter(ids)
    assert h.campaigns.totals(APP, campaign_id)["status"] == "completed"


def test_a_task_without_app_id_is_refused_naming_the_field() -> None:
    task = {k: v for k, v in sample("segment_query_audience_task_sqs.json").items() if k != "app_id"}
    with pytest.raises(qm.InvalidMessage) as caught:
        qm.parse(task)
    assert caught.value.errors == [{"field": "app_id", "reason": "missing"}]
    assert (caught.value.kind, caught.value.app_id, caught.value.campaign_id) == ("task", None, None)


def test_an_unknown_kind_is_refused_naming_kind() -> None:
    with pytest.raises(qm.InvalidMessage) as caught:
        qm.parse({"kind": "wave_v2", "app_id": APP, "campaign_id": CAMPAIGN})
    assert caught.value.errors == [{"field": "kind", "reason": "union_tag_invalid"}]


def test_a_field_no_model_names_is_refused_rather_than_dropped() -> None:
    with pytest.raises(qm.InvalidMessage) as caught:
        qm.parse({**OLD_SHAPES["slice"][1], "priority": 1})
    assert caught.value.errors == [{"field": "priority", "reason": "extra_forbidden"}]


@pytest.mark.parametrize("body", ["not json", "[1, 2]", '"a string"'])
def test_a_body_that_is_not_a_json_object_is_refused(body: str) -> None:
    with pytest.raises(qm.InvalidMessage) as caught:
        audience_queue.handle_record(Harness().segment_deps(), audience_queue.decoded(body), lambda: 900_000)
    assert caught.value.errors[0]["field"] == "(body)"


def test_a_refused_message_is_counted_once_on_its_campaign_logged_without_values_and_dead_lettered(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()  # three receives, then the dead-letter queue
    h.web_devices(APP, 5)
    campaign_id = h.create_campaign(APP, {"name": "w", "message": {"title": "T", "body": "b"}, "quiet_hours": "ignore"})
    h.drain()
    before = h.campaigns.totals(APP, campaign_id)
    secret = "a0b1c2d3e4f5-device-token"
    bad = {"kind": "task", "app_id": APP, "campaign_id": campaign_id, "wave_id": "w0", "zone": "Europe/Paris",
           "shard": "third", "seq": 0, "context": {"token": secret}}  # fmt: skip
    h.queue.send_json(AUDIENCE, [bad])
    h.drain()
    assert h.dead_letters == [(AUDIENCE, bad)]
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["errors"] == {**before["errors"], "dead-lettered: invalid task message": 1}  # three receives, once
    assert totals["stats"] == before["stats"]
    refused = [r for r in caplog.records if r.getMessage() == "audience message refused"]
    assert len(refused) == 3  # each receive says so
    logged = repr([vars(r) for r in refused])
    assert "'field': 'shard'" in logged and secret not in logged and "third" not in logged


def test_a_refused_message_naming_no_stored_campaign_records_nothing() -> None:
    h = Harness()
    h.queue.send_json(AUDIENCE, [{"kind": "release", "app_id": APP, "campaign_id": "cmp_gone"}])
    h.drain()
    assert [body for _, body in h.dead_letters] == [{"kind": "release", "app_id": APP, "campaign_id": "cmp_gone"}]
    assert (APP, "cmp_gone") not in h.campaigns.main


def test_a_scheduler_event_no_model_accepts_is_refused_before_any_handler_runs(reached: list[Any]) -> None:
    with pytest.raises(qm.InvalidMessage):
        audience_queue.handle(Harness().segment_deps(), {"kind": "trigger", "app_id": APP}, lambda: 900_000)
    assert reached == []
