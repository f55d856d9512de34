"""A stored campaign's spec, parsed once by the campaign store (models.CampaignSpec): every shape the
code has stored still parses, defaults are CampaignIn's own, and the API answers what was stored."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from pushengine.campaigns import campaign_out
from pushengine.content import Message
from pushengine.dal.campaigns import parsed, zero_stats
from pushengine.dal.numbers import from_dynamo
from pushengine.models import CampaignFields, CampaignIn, CampaignSpec, FrequencyCap, LocalTimeSchedule

pytestmark = pytest.mark.unit

MESSAGE = {"title": "t", "body": "b"}


def test_the_defaults_are_defined_once_for_the_body_and_the_stored_spec() -> None:
    spec = CampaignSpec.model_validate({"message": MESSAGE})
    for name in CampaignFields.model_fields:
        if name not in ("name", "audience"):  # a direct send has no name; the stored audience is taken as is
            assert CampaignSpec.model_fields[name].default == CampaignIn.model_fields[name].default, name
    assert (spec.ttl_seconds, spec.quiet_hours, spec.category, spec.holdout_percent) == (
        86400, "defer", "marketing", 0,
    )  # fmt: skip
    assert spec.schedule.type == "now" and spec.variants is None and spec.frequency_cap is None


def test_a_campaign_as_created_parses_back_to_what_it_was() -> None:
    body = CampaignIn.model_validate({
        "name": "n", "template_id": "tpl_1", "holdout_percent": 5,
        "variants": [{"name": "a", "weight": 2, "message": MESSAGE}], "frequency_cap": {"max": 2, "per_hours": 24},
        "schedule": {"type": "local_time", "date": "2027-01-04", "time": "09:00", "if_passed": "next_day"},
        "audience": {"attr": "platform", "op": "eq", "value": "ios"}, "ttl_seconds": 60, "max_per_second": 10,
    })  # fmt: skip
    # the route copies the template's message in, keeping template_id: both are stored
    body = body.model_copy(update={"message": Message.model_validate(MESSAGE)})
    stored = body.model_dump(mode="json", exclude_none=True)  # what creation writes
    assert stored["template_id"] == "tpl_1" and stored["message"]["title"] == "t"
    spec = CampaignSpec.model_validate(stored)
    assert spec.stored() == stored
    assert isinstance(spec.schedule, LocalTimeSchedule) and spec.schedule.if_passed == "next_day"
    assert spec.frequency_cap == FrequencyCap(max=2, per_hours=24) and spec.variants is not None
    assert (spec.variants[0].weight, spec.ttl_seconds, spec.max_per_second) == (2, 60, 10)


@pytest.mark.parametrize(
    "stored",
    [
        # a direct send: no name, no schedule, its own keys
        {"kind": "message", "message": MESSAGE, "category": "transactional", "ttl_seconds": 30,
         "quiet_hours": "ignore", "data": {"order": 7}, "collapse_id": "order-7",
         "frequency_cap": {"max": 1, "per_hours": 1}},
        # a campaign stored before quiet_hours, category, ttl_seconds and holdout_percent had defaults there
        {"name": "old", "message": MESSAGE, "schedule": {"type": "now"}},
        # a key no model knows any more is kept, not refused
        {"name": "old", "message": MESSAGE, "schedule": {"type": "now"}, "retired_option": True},
    ],
)  # fmt: skip
def test_every_stored_shape_still_parses_and_is_kept_as_stored(stored: dict[str, Any]) -> None:
    spec = CampaignSpec.model_validate(stored)
    assert spec.stored() == stored


def test_decimals_from_dynamodb_come_out_as_int_and_float() -> None:
    item = {"app_id": "a", "campaign_id": "c", "spec": {
        "name": "n", "message": MESSAGE, "holdout_percent": Decimal("2.5"), "ttl_seconds": Decimal("3600"),
        "variants": [{"name": "a", "weight": Decimal("3"), "message": MESSAGE}],
        "data": {"n": Decimal("7"), "x": [Decimal("1.5")]}, "max_per_second": Decimal("100"),
    }}  # fmt: skip
    spec = parsed(from_dynamo(item))["spec"]
    assert isinstance(spec, CampaignSpec) and spec.variants is not None
    values = [spec.holdout_percent, spec.ttl_seconds, spec.variants[0].weight, spec.max_per_second,
              spec.data and spec.data["n"], spec.data and spec.data["x"][0]]  # fmt: skip
    assert values == [2.5, 3600, 3, 100, 7, 1.5]
    assert not any(isinstance(v, Decimal) for v in values)
    assert type(spec.ttl_seconds) is int and type(spec.holdout_percent) is float


def test_the_api_answers_the_schedule_as_stored_without_defaults_it_did_not_hold() -> None:
    """GET answers what it always did: a schedule stored without `if_passed` gains no default."""
    item = {"app_id": "a", "campaign_id": "c", "name": "n", "status": "scheduled", "created_at": "t",
            "spec": {"name": "n", "message": MESSAGE,
                     "schedule": {"type": "local_time", "date": "2027-01-04", "time": "09:00"}},
            "waves": [], "stats": zero_stats()}  # fmt: skip
    out = campaign_out(parsed(item))
    assert out.schedule == {"type": "local_time", "date": "2027-01-04", "time": "09:00"}
    assert out.lift is None
    direct = campaign_out(parsed({**item, "spec": {"message": MESSAGE}}))
    assert direct.schedule == {"type": "now"}
