"""Events on in-memory ports: each stat counted once per device, attributed to the device's variant;
every conversion's value counted; button taps of the campaign's own actions; a failed count not lost."""

from __future__ import annotations

from typing import Any

import pytest

from pushengine.dal.aws import Contended
from pushengine.errors import NotFound
from pushengine.events import EventDeps, record_event
from pushengine.models import EventIn
from pushengine.targeting import assign
from tests.fakes import Harness

pytestmark = pytest.mark.unit

APP = "app_e"
MESSAGE = {"title": "t", "body": "b", "actions": [{"id": "buy", "title": "Buy"}]}


def setup(**extra: Any) -> tuple[Harness, EventDeps, str, list[str]]:
    h = Harness()
    ids = h.web_devices(APP, 40)
    campaign_id = h.create_campaign(APP, {"name": "e", "message": MESSAGE, "quiet_hours": "ignore", **extra})
    h.drain()
    return h, EventDeps(campaigns=h.campaigns, devices=h.devices), campaign_id, ids


def post(deps: EventDeps, **event: Any) -> dict[str, object]:
    return record_event(deps, APP, EventIn.model_validate(event))


def test_an_open_counts_once_per_device_for_its_variant() -> None:
    variants = [{"name": "a", "message": MESSAGE}, {"name": "b", "weight": 3, "message": MESSAGE}]
    h, deps, campaign_id, ids = setup(variants=variants)
    spec = h.campaigns.definition(APP, campaign_id)["spec"]
    for device_id in ids:
        assert post(deps, device_id=device_id, name="opened", campaign_id=campaign_id)["counted"] is True
    again = post(deps, device_id=ids[0], name="notification_opened", campaign_id=campaign_id)
    assert again == {"accepted": True, "counted": False, "variant": assign(spec, campaign_id, ids[0])}
    totals = h.campaigns.totals(APP, campaign_id)
    assert totals["stats"]["opened"] == 40
    expected = {v: sum(1 for d in ids if assign(spec, campaign_id, d) == v) for v in ("a", "b")}
    assert {v: totals["vstats"][v].get("opened", 0) for v in ("a", "b")} == expected
    assert expected["a"] and expected["b"]  # both variants really drawn


def test_every_conversions_value_adds_to_revenue_but_the_device_converts_once() -> None:
    h, deps, campaign_id, ids = setup()
    for value in (10.0, 2.5):
        assert post(deps, device_id=ids[1], name="purchase", campaign_id=campaign_id, value=value,
                    currency="EUR")["counted"]  # fmt: skip
    stats = h.campaigns.totals(APP, campaign_id)["stats"]
    assert stats["converted"] == 1
    assert [v for k, v in stats.items() if k.endswith("EUR")] == [12.5]


def test_button_taps_count_only_the_campaigns_own_actions() -> None:
    h, deps, campaign_id, ids = setup()
    post(deps, device_id=ids[0], name="clicked", campaign_id=campaign_id, properties={"action_id": "buy"})
    post(deps, device_id=ids[1], name="clicked", campaign_id=campaign_id, properties={"action_id": "hack"})
    stats = h.campaigns.totals(APP, campaign_id)["stats"]
    assert stats["clicked"] == 2
    assert {k: v for k, v in stats.items() if k.startswith("clicked_action_")} == {"clicked_action_buy": 1}


def test_a_count_whose_write_fails_is_counted_when_posted_again() -> None:
    h, deps, campaign_id, ids = setup()
    h.campaigns.fail("record")
    with pytest.raises(Contended):
        post(deps, device_id=ids[2], name="opened", campaign_id=campaign_id)
    assert post(deps, device_id=ids[2], name="opened", campaign_id=campaign_id)["counted"] is True
    assert h.campaigns.totals(APP, campaign_id)["stats"]["opened"] == 1


def test_an_event_for_an_unknown_campaign_or_device_is_a_404_naming_the_field() -> None:
    _, deps, campaign_id, ids = setup()
    with pytest.raises(NotFound) as campaign:
        post(deps, device_id=ids[0], name="opened", campaign_id="cmp_nope")
    with pytest.raises(NotFound) as device:
        post(deps, device_id="nobody", name="opened", campaign_id=campaign_id)
    assert (campaign.value.field, device.value.field) == ("body.campaign_id", "body.device_id")


def test_an_event_that_is_no_stat_is_accepted_uncounted() -> None:
    h, deps, campaign_id, ids = setup()
    assert post(deps, device_id=ids[0], name="app_open", campaign_id=campaign_id) == {
        "accepted": True, "counted": False,
    }  # fmt: skip
    assert h.campaigns.totals(APP, campaign_id)["stats"]["opened"] == 0
