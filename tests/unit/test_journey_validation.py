"""A journey's definition is checked as a whole, each error naming `steps.<id>.<field>`."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from pushengine.journeys.model import MAX_STEPS, JourneyIn

CART: dict[str, Any] = {
    "name": "Abandoned cart", "category": "marketing", "quiet_hours": "defer",
    "frequency_cap": {"max": 3, "per_hours": 24}, "max_per_second": 500,
    "entry": {"event": "cart_updated", "audience": {"attr": "tags.plan", "op": "eq", "value": "pro"}},
    "reentry": "after_exit", "exit_on": ["purchase"], "first": "wait",
    "steps": {
        "wait": {"type": "wait", "duration": "PT1H", "next": "remind"},
        "remind": {"type": "send", "message": {"title": "Still thinking?", "body": "{{ event.properties.item_name }}"},
                   "next": "check"},
        "check": {"type": "split", "branches": [{"when": {"step": "remind", "op": "opened"}, "next": "done"},
                                                {"when": {"attr": "events.purchase.count", "op": "gt", "value": 0},
                                                 "next": "done"}],
                  "else": "later"},
        "later": {"type": "wait_for", "event": "app_open", "timeout": "P1D", "on_event": "done",
                  "on_timeout": "morning"},
        "morning": {"type": "wait", "until": {"local_time": "09:00"}, "next": "ab"},
        "ab": {"type": "random", "branches": [{"percent": 50, "next": "coupon"}, {"percent": 50, "next": "plain"}]},
        "coupon": {"type": "send", "template_id": "tpl_coupon", "next": "done"},
        "plain": {"type": "send", "message": {"title": "Your cart", "body": "is waiting"}, "next": "done"},
        "done": {"type": "exit"},
    },
}  # fmt: skip


def error_of(body: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        JourneyIn.model_validate(body)
    return str(caught.value.errors()[0]["msg"]).removeprefix("Value error, ")


def changed(**steps: Any) -> dict[str, Any]:
    body = copy.deepcopy(CART)
    for step_id, step in steps.items():
        if step is None:
            del body["steps"][step_id]
        else:
            body["steps"][step_id] = step
    return body


def test_the_contract_example_is_valid() -> None:
    journey = JourneyIn.model_validate(CART)
    steps = journey.parsed_steps()
    assert [s.type for s in steps.values()].count("send") == 3
    assert journey.reentry_after() is None


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        (changed(wait={"type": "wait", "duration": "PT1H", "next": "nowhere"}), "steps.wait.next", "no step named"),
        (changed(ab={"type": "random", "branches": [{"percent": 50, "next": "coupon"},
                                                   {"percent": 50, "next": "gone"}]}),
         "steps.ab.branches.1.next", "no step named"),
        (changed(later={"type": "wait_for", "event": "app_open", "timeout": "P1D", "on_event": "done",
                        "on_timeout": "elsewhere"}), "steps.later.on_timeout", "no step named"),
        (changed(orphan={"type": "exit"}), "steps.orphan", "unreachable"),
        (changed(later={"type": "wait_for", "timeout": "P1D", "on_event": "done", "on_timeout": "morning"}),
         "steps.later.event", "names no event"),
        (changed(later={"type": "wait_for", "event": "", "timeout": "P1D", "on_event": "done",
                        "on_timeout": "morning"}), "steps.later.event", "names no event"),
        (changed(plain={"type": "send", "message": {"title": "t", "body": "b"}, "next": "ab"}),
         "steps.plain.next", "a loop without a wait"),
        (changed(wait={"type": "wait", "next": "remind"}), "steps.wait.duration", "exactly one"),
        (changed(wait={"type": "wait", "duration": "P91D", "next": "remind"}), "steps.wait.duration", "90 days"),
        (changed(ab={"type": "random", "branches": [{"percent": 50, "next": "coupon"},
                                                   {"percent": 40, "next": "plain"}]}), "steps.ab.branches", "100"),
        (changed(remind={"type": "send", "next": "check"}), "steps.remind.message", "exactly one"),
        (changed(remind={"type": "send", "message": {"title": "t", "body": "b"}, "next": "check", "colour": 1}),
         "steps.remind.colour", "Extra inputs"),
        (changed(check={"type": "split", "branches": [{"when": {"step": "wait", "op": "opened"}, "next": "done"}],
                        "else": "later"}), "steps.check.branches.0.when.step", "not a send step"),
        (changed(remind={"type": "teleport", "next": "check"}), "steps.remind", "tag"),
    ],
)  # fmt: skip
def test_errors_name_the_step_and_its_field(body: dict[str, Any], field: str, reason: str) -> None:
    message = error_of(body)
    assert message.split(": ", 1)[0] == field, message
    assert reason in message


def test_a_loop_through_a_wait_is_allowed() -> None:
    body = changed(plain={"type": "send", "message": {"title": "t", "body": "b"}, "next": "morning"})
    JourneyIn.model_validate(body)


def test_exit_on_must_name_events() -> None:
    assert error_of({**CART, "exit_on": ["purchase", ""]}).startswith("exit_on.1: names no event")


def test_more_than_fifty_steps_is_refused() -> None:
    steps: dict[str, Any] = {
        f"s{i}": {"type": "wait", "duration": "PT1M", "next": f"s{i + 1}"} for i in range(MAX_STEPS)
    }
    steps[f"s{MAX_STEPS}"] = {"type": "exit"}
    message = error_of({**CART, "first": "s0", "steps": steps})
    assert message.startswith("steps: at most 50 steps"), message
    del steps["s0"]
    steps["s1"] = {"type": "exit"}
    JourneyIn.model_validate({**CART, "first": "s1", "steps": {"s1": {"type": "exit"}}})


def test_first_must_name_a_step() -> None:
    assert error_of({**CART, "first": "nope"}).startswith("first: no step named")


@pytest.mark.parametrize(("entry", "error"), [
    ({"segment": "seg 1", "schedule": {"type": "recurring", "frequency": "daily", "time": "09:00",
                                       "start": "2026-12-08"}}, "entry.segment"),
    ({"segment": "seg_1", "schedule": {"type": "at", "at": "2026-12-08T09:00:00Z"}}, "entry.schedule.type"),
    ({"audience": {"attr": "tags.plan", "op": "zz", "value": 1},
      "schedule": {"type": "at", "at": "2026-12-08T09:00:00Z"}}, "entry.audience.op"),
    ({"audience": {"attr": "tags.plan", "op": "eq", "value": "pro"},
      "schedule": {"type": "local_time", "date": "2026-12-08", "time": "9:00"}}, "entry.schedule.time"),
    ({"audience": {"attr": "tags.plan", "op": "eq", "value": "pro"}}, "entry.event"),
])  # fmt: skip
def test_a_scheduled_entry_is_checked_naming_its_field(entry: dict[str, Any], error: str) -> None:
    assert error_of({**CART, "entry": entry}).startswith(f"{error}: ")


def test_the_three_entries_parse() -> None:
    daily = {"type": "recurring", "frequency": "daily", "time": "09:00", "start": "2026-12-08"}
    once = {"type": "local_time", "date": "2026-12-08", "time": "09:00"}
    pro = {"attr": "tags.plan", "op": "eq", "value": "pro"}
    entries = (CART["entry"], {"segment": "seg_1", "schedule": daily}, {"audience": pro, "schedule": once})
    kinds = [type(JourneyIn.model_validate({**CART, "entry": e}).entry).__name__ for e in entries]
    assert kinds == ["EventEntry", "SegmentEntry", "AudienceEntry"]
