"""The fakes of tests/fakes.py and the boto3 adapters answer alike: every case runs on both, the adapter
against moto with the tables of template.yaml. The orchestration unit tests lean on these semantics
(the ledger written once, completion only when nothing is pending), so a change to either side that
breaks them fails here by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pushengine.dal.campaigns import CampaignsRepository, zero_stats
from pushengine.dal.caps import FrequencyCaps
from pushengine.dal.devices import DevicesRepository
from pushengine.dal.timeseries import TimeseriesRepository
from pushengine.models import CampaignSpec
from pushengine.ports import CampaignStore, CapRule, CapStore, DeviceStore
from pushengine.readplan import key_range
from tests.fakes import FakeCampaigns, FakeCaps, FakeDevices

pytestmark = pytest.mark.integration

APP, CAMPAIGN = "app_c", "cmp_contract"


@pytest.fixture(params=["fake", "dynamodb"])
def campaigns(request: pytest.FixtureRequest) -> CampaignStore:
    if request.param == "fake":
        return FakeCampaigns()
    names = request.getfixturevalue("names")
    return CampaignsRepository(
        names["CampaignsTable"], names["DeliveryStateTable"], TimeseriesRepository(names["AnalyticsTable"])
    )


@pytest.fixture(params=["fake", "dynamodb"])
def devices(request: pytest.FixtureRequest) -> tuple[DeviceStore, Callable[[str, dict[str, Any]], None]]:
    """A device store and how a device gets into it (the API's registration)."""
    if request.param == "fake":
        fake = FakeDevices()

        def register_fake(device_id: str, fields: dict[str, Any]) -> None:
            fake.register(APP, device_id, **fields)

        return fake, register_fake
    names = request.getfixturevalue("names")
    repo = DevicesRepository(names["DevicesTable"], names["ZonesTable"], 4)

    def register(device_id: str, fields: dict[str, Any]) -> None:
        repo.put(APP, device_id, fields)

    return repo, register


class Clock:
    """The caps' clock, moved by the test (seconds since the epoch)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["fake", "dynamodb"])
def caps(request: pytest.FixtureRequest) -> tuple[CapStore, Clock]:
    clock = Clock()
    if request.param == "fake":
        return FakeCaps(clock), clock
    return FrequencyCaps(request.getfixturevalue("names")["DeliveryStateTable"], clock=clock), clock


def created(store: CampaignStore, waves: int = 1) -> CampaignStore:
    store.create({
        "app_id": APP, "campaign_id": CAMPAIGN, "name": "c", "status": "scheduled", "created_at": "now",
        "spec": {"message": {"title": "t", "body": "b"}}, "waves": [], "waves_pending": waves,
        "tasks_pending": 0, "batches_pending": 0, "stats": zero_stats(), "vstats": {"default": zero_stats()},
        "paced": {}, "errors": {},
    })  # fmt: skip
    return store


def progress(store: CampaignStore) -> dict[str, Any]:
    found = store.progress(APP, CAMPAIGN)
    assert found is not None
    return found


def test_a_definition_reads_back_with_its_spec_parsed_and_plain_numbers(campaigns: CampaignStore) -> None:
    spec = {"name": "c", "message": {"title": "t", "body": "b"}, "holdout_percent": 2.5, "ttl_seconds": 600,
            "variants": [{"name": "a", "weight": 1.5, "message": {"title": "t", "body": "b"}}],
            "data": {"n": 7, "x": [0.25]}}  # fmt: skip
    created(campaigns)
    definition = campaigns.definition(APP, CAMPAIGN, consistent=True)
    assert definition is not None and definition["spec"].stored() == {"message": {"title": "t", "body": "b"}}
    campaigns.replace_definition({**{k: v for k, v in definition.items() if k != "spec"}, "spec": spec})
    for read in (campaigns.get(APP, CAMPAIGN, consistent=True), campaigns.list(APP, limit=10, next_token=None)[0][0]):
        assert read is not None and isinstance(read["spec"], CampaignSpec)
        assert read["spec"].stored() == spec  # no Decimal: equal to the ints and floats written
        assert type(read["spec"].data["n"]) is int and type(read["spec"].holdout_percent) is float  # type: ignore[index]
        assert type(read["waves_pending"]) is int


def test_a_ledger_key_records_once(campaigns: CampaignStore) -> None:
    created(campaigns)
    stats = {"sent": 3, "failed": 1}
    assert campaigns.record(APP, CAMPAIGN, "batch#x", stats=stats, variant_stats={"default": stats}, shard=2)
    assert not campaigns.record(
        APP, CAMPAIGN, "batch#x", stats=stats, variant_stats={"default": stats}, shard=2
    )
    assert campaigns.record(APP, CAMPAIGN, "batch#y", stats={"sent": 1})  # another key counts
    found = progress(campaigns)
    assert (found["stats"]["sent"], found["stats"]["failed"], found["vstats"]["default"]["sent"]) == (4, 1, 3)


def test_a_checkpoint_never_overwrites_a_recorded_batch(campaigns: CampaignStore) -> None:
    created(campaigns)
    campaigns.save_checkpoint("batch#z", {"done_idx": "Aw==", "counts": {"sent": 2}})
    assert (campaigns.checkpoint("batch#z") or {})["done_idx"] == "Aw=="
    assert campaigns.record(APP, CAMPAIGN, "batch#z", stats={"sent": 2}, ledger={"results": {"d": ["sent"]}})
    campaigns.save_checkpoint("batch#z", {"done_idx": "", "counts": {}})  # a late writer from a redelivery
    after = campaigns.checkpoint("batch#z") or {}
    assert after["done"] is True and after["results"] == {"d": ["sent"]}


def test_a_wave_counts_its_tasks_once_and_only_while_its_campaign_runs(campaigns: CampaignStore) -> None:
    created(campaigns, waves=2)
    assert campaigns.mark_wave_fired(APP, CAMPAIGN, "w1", 3)
    assert not campaigns.mark_wave_fired(APP, CAMPAIGN, "w1", 3)
    found = progress(campaigns)
    assert (found["status"], found["waves_pending"], found["tasks_pending"]) == ("sending", 1, 3)
    assert campaigns.set_status(APP, CAMPAIGN, "cancelled", allowed_from=("scheduled", "sending"))
    assert not campaigns.mark_wave_fired(APP, CAMPAIGN, "w2", 1)
    assert not campaigns.set_status(APP, CAMPAIGN, "paused", allowed_from=("sending",))


def test_a_campaign_completes_only_when_no_wave_task_or_batch_is_pending(campaigns: CampaignStore) -> None:
    created(campaigns, waves=1)
    assert not campaigns.try_complete(APP, CAMPAIGN)  # scheduled: its wave has not fired
    assert campaigns.mark_wave_fired(APP, CAMPAIGN, "w1", 1)
    assert not campaigns.try_complete(APP, CAMPAIGN)  # a task pending
    assert campaigns.record(
        APP, CAMPAIGN, "task#1", counters={"tasks_pending": -1, "batches_pending": 2}, shard=5
    )
    assert not campaigns.try_complete(APP, CAMPAIGN, shard=5)  # two batches pending on shard 5
    assert campaigns.record(APP, CAMPAIGN, "batch#a", counters={"batches_pending": -1}, shard=5)
    assert not campaigns.try_complete(APP, CAMPAIGN, shard=5)
    assert not campaigns.try_complete(APP, CAMPAIGN)
    assert campaigns.record(APP, CAMPAIGN, "batch#b", counters={"batches_pending": -1}, shard=5)
    assert campaigns.try_complete(APP, CAMPAIGN, shard=5)
    assert progress(campaigns)["status"] == "completed"
    assert not campaigns.try_complete(APP, CAMPAIGN, shard=5)  # once


def test_batches_pending_on_another_shard_hold_completion(campaigns: CampaignStore) -> None:
    created(campaigns, waves=1)
    assert campaigns.mark_wave_fired(APP, CAMPAIGN, "w1", 2)
    assert campaigns.record(
        APP, CAMPAIGN, "task#1", counters={"tasks_pending": -1, "batches_pending": 1}, shard=1
    )
    assert campaigns.record(
        APP, CAMPAIGN, "task#2", counters={"tasks_pending": -1, "batches_pending": 1}, shard=9
    )
    assert campaigns.record(APP, CAMPAIGN, "batch#1", counters={"batches_pending": -1}, shard=1)
    assert not campaigns.try_complete(APP, CAMPAIGN, shard=1)  # shard 9 still has one
    assert campaigns.record(APP, CAMPAIGN, "batch#9", counters={"batches_pending": -1}, shard=9)
    assert campaigns.try_complete(APP, CAMPAIGN, shard=9)


def test_the_first_read_plan_wins_and_slots_are_handed_out_in_turn(campaigns: CampaignStore) -> None:
    created(campaigns)
    assert campaigns.fix_plan("plan#k", 4) == 4
    assert campaigns.fix_plan("plan#k", 9) == 4
    assert campaigns.reserve_slots(APP, CAMPAIGN, "w1", 10, 1e9 + 0.25) == (0, 1e9 + 0.25)
    assert campaigns.reserve_slots(APP, CAMPAIGN, "w1", 5, 1e9 + 7) == (10, 1e9 + 0.25)  # the first origin
    assert campaigns.reserve_slots(APP, CAMPAIGN, "w2", 1, 1e9 + 7) == (0, 1e9 + 7)


def test_a_deferred_batch_round_trips(campaigns: CampaignStore) -> None:
    batch = {"app_id": APP, "batch_id": "b.d0800", "devices": [{"id": "d1", "c": {"tags": {"n": 1.5}}}]}
    campaigns.store_deferred("defer#k", batch)
    assert campaigns.load_deferred("defer#k") == batch
    assert campaigns.load_deferred("defer#other") is None


def test_a_zones_key_ranges_page_through_each_device_once_and_a_pruned_device_leaves_them(
    devices: tuple[DeviceStore, Callable[[str, dict[str, Any]], None]],
) -> None:
    store, register = devices
    ids = [f"dev-{i:03d}" for i in range(23)]
    for device_id in ids:
        register(device_id, {"platform": "ios", "token": "ab" * 32, "timezone": "Asia/Kathmandu",
                             "opted_in": True})  # fmt: skip
    assert store.zones(APP) == ["Asia/Kathmandu"] and store.zone_size(APP, "Asia/Kathmandu") == 23

    def read_all() -> list[str]:
        seen: list[str] = []
        for cursor in range(3):
            start = None
            while True:
                page, start = store.partition_page(APP, "Asia/Kathmandu", key_range(cursor, 3), limit=4,
                                                   start=start)  # fmt: skip
                assert len(page) <= 4
                seen += [str(i["device_id"]) for i in page]
                if start is None:
                    break
        return seen

    assert sorted(read_all()) == ids
    store.mark_invalid(APP, [ids[5]], "BadDeviceToken")
    store.mark_invalid(APP, [ids[5]], "BadDeviceToken")  # twice: counted once
    assert sorted(read_all()) == [i for i in ids if i != ids[5]]
    assert store.zone_size(APP, "Asia/Kathmandu") == 22
    assert (store.get(APP, ids[5]) or {})["status"] == "invalid"
    assert set(store.get_many(APP, [ids[0], ids[5], "nobody"])) == {ids[0], ids[5]}


def _types(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _types(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_types(v) for v in value]
    return type(value).__name__


def test_every_device_read_answers_plain_values(
    devices: tuple[DeviceStore, Callable[[str, dict[str, Any]], None]],
) -> None:
    """Registration takes plain JSON values and every read gives them back as they went in: ints stay
    ints, floats floats, nothing DynamoDB-typed (Decimal) reaches the domain."""
    store, register = devices
    fields = {"platform": "web", "timezone": "Europe/Paris", "opted_in": True, "user_id": "u1",
              "subscription": {"endpoint": "https://push.example/d1", "keys": {"p256dh": "k", "auth": "a"}},
              "tags": {"visits": 3, "score": 2.5, "vip": True}, "location": {"lat": 48.85, "lon": 2.35}}  # fmt: skip
    register("d1", fields)
    page, _ = store.partition_page(APP, "Europe/Paris", limit=10)
    reads = [
        store.get(APP, "d1"),
        store.get_many(APP, ["d1"])["d1"],
        store.of_user(APP, "u1", limit=5)[0],
        page[0],
    ]
    for item in reads:
        assert item is not None
        assert {k: item[k] for k in ("tags", "location")} == {k: fields[k] for k in ("tags", "location")}
        assert _types(item["tags"]) == {"visits": "int", "score": "float", "vip": "bool"}
        assert type(item["version"]) is int


def test_a_campaigns_cap_counts_its_own_sends_and_the_app_wide_cap_counts_every_send(
    caps: tuple[CapStore, Clock],
) -> None:
    store, clock = caps
    own = {c: CapRule(1, 24, c) for c in ("cmp_a", "cmp_b", "cmp_r")}
    assert store.allow_within(APP, "d1", "cmp_a", [own["cmp_a"]])
    assert store.allow_within(APP, "d1", "cmp_a", [own["cmp_a"]])  # a redelivery of its own send
    assert store.allow_within(APP, "d1", "cmp_b", [own["cmp_b"]])  # another campaign's send does not count
    assert store.allow_within(APP, "d1", "cmp_r.2027-01-04", [own["cmp_r"]])  # a recurring campaign's run
    assert not store.allow_within(APP, "d1", "cmp_r.2027-01-05", [own["cmp_r"]])  # its next run counts the first
    assert not store.allow_within(APP, "d1", "cmp_a.dev.2", [own["cmp_a"]])  # a triggered send of cmp_a too
    app_wide = CapRule(3, 24)
    assert not store.allow_within(APP, "d1", "cmp_c", [app_wide])  # three sends of any campaign already
    assert store.allow_within(APP, "d2", "cmp_c", [app_wide])  # per device
    clock.now += 25 * 3600
    assert store.allow_within(APP, "d1", "cmp_r.2027-01-06", [own["cmp_r"], app_wide])  # the window passed


def test_a_user_scoped_cap_counts_every_device_of_the_user_together(caps: tuple[CapStore, Clock]) -> None:
    store, clock = caps
    per_user = CapRule(1, 24, "cmp_u", "user")
    assert store.allow_within(APP, "phone", "cmp_u", [per_user], user_id="ann")
    assert store.allow_within(APP, "phone", "cmp_u", [per_user], user_id="ann")  # its own send, redelivered
    assert not store.allow_within(APP, "tablet", "cmp_u", [per_user], user_id="ann")  # her second device
    assert store.allow_within(APP, "laptop", "cmp_u", [per_user], user_id="bob")  # another user
    assert store.allow_within(APP, "kiosk", "cmp_u", [per_user])  # no user: the device is its own
    # both scopes on one send: recorded in both items, so each counts it
    app_wide = CapRule(1, 24)
    assert store.allow_within(APP, "watch", "cmp_v", [CapRule(2, 24, "cmp_v", "user"), app_wide], user_id="cy")
    assert not store.allow_within(APP, "watch", "cmp_w", [app_wide], user_id="cy")  # the device's own item
    assert store.allow_within(APP, "pad", "cmp_v", [CapRule(2, 24, "cmp_v", "user"), app_wide], user_id="cy")
    assert not store.allow_within(APP, "car", "cmp_v", [CapRule(2, 24, "cmp_v", "user")], user_id="cy")
    clock.now += 25 * 3600
    assert store.allow_within(APP, "tablet", "cmp_u", [per_user], user_id="ann")  # the window passed


def test_an_edited_definition_reaches_a_container_that_read_the_old_one(campaigns: CampaignStore) -> None:
    created(campaigns)
    other = campaigns
    if isinstance(campaigns, CampaignsRepository):  # another container: its own definition cache
        other = CampaignsRepository(campaigns._campaigns_name, campaigns._state_name, campaigns.timeseries)
    before = other.get(APP, CAMPAIGN, summed=False)
    assert before is not None and before["spec"].message.title == "t"  # type: ignore[union-attr]
    definition = campaigns.definition(APP, CAMPAIGN, consistent=True)
    assert definition is not None
    edited = {"message": {"title": "edited", "body": "b"}}
    campaigns.replace_definition({**definition, "spec": edited, "revision": 1})
    for summed in (False, True):
        after = other.get(APP, CAMPAIGN, summed=summed)
        assert after is not None and after["spec"].message.title == "edited"  # type: ignore[union-attr]
        assert after["revision"] == 1


def test_zone_sizes_name_every_zone_of_the_registry_with_its_count(
    devices: tuple[DeviceStore, Callable[[str, dict[str, Any]], None]],
) -> None:
    store, register = devices
    for i, zone in enumerate(["Europe/Paris", "Europe/Paris", "Asia/Tokyo"]):
        register(f"z{i}", {"platform": "web", "timezone": zone, "opted_in": True,
                           "subscription": {"endpoint": f"https://push.example/z{i}",
                                            "keys": {"p256dh": "BOr", "auth": "au"}}})  # fmt: skip
    assert store.zone_sizes(APP) == {"Asia/Tokyo": 1, "Europe/Paris": 2}
    assert sorted(store.zone_sizes(APP)) == sorted(store.zones(APP))


def test_an_hours_series_sums_every_writer_once_whatever_shard_it_wrote_on(campaigns: CampaignStore) -> None:
    """Send batches and audience tasks add to their hour on their own counter shard; the series reads
    each hour's sum, a redelivered batch adds nothing, and a run's own series keeps its part."""
    created(campaigns)
    for i in range(40):  # batches of many tasks, spread over every shard
        assert campaigns.record(APP, CAMPAIGN, f"batch#{i}", stats={"sent": 2, "failed": 1, "revenue_EUR": 0.5},
                                variant_stats={"default": {"sent": 2}}, shard=i % 16, hour="2026-12-01T05")  # fmt: skip
    assert not campaigns.record(APP, CAMPAIGN, "batch#7", stats={"sent": 2}, shard=7, hour="2026-12-01T05")
    campaigns.record(APP, CAMPAIGN, "batch#late", stats={"sent": 1, "opened": 0}, shard=3, hour="2026-12-01T07",
                     run="2026-12-01")  # fmt: skip
    campaigns.record(APP, CAMPAIGN, "task#no-hour", stats={"targeted": 5})  # not in the series
    [five, seven] = campaigns.series(APP, CAMPAIGN)
    assert five == {"hour": "2026-12-01T05", "stats": {"sent": 80, "revenue_EUR": 20.0},
                    "vstats": {"default": {"sent": 80}}}  # fmt: skip
    assert seven == {"hour": "2026-12-01T07", "stats": {"sent": 1}, "vstats": {}}
    assert campaigns.series(APP, CAMPAIGN, "2026-12-01") == [seven]
    assert campaigns.series(APP, CAMPAIGN, "2026-12-02") == []
    assert progress(campaigns)["stats"]["sent"] == 81  # the stats count what the series counts


def test_a_pruned_devices_zone_count_leaves_the_zone_once(
    devices: tuple[DeviceStore, Callable[[str, dict[str, Any]], None]],
) -> None:
    store, register = devices
    for i in range(30):
        register(f"p{i}", {"platform": "android", "token": f"t{i}", "timezone": "Europe/Paris", "opted_in": True})
    register("tokyo", {"platform": "android", "token": "tk", "timezone": "Asia/Tokyo", "opted_in": True})
    store.mark_invalid(APP, [f"p{i}" for i in range(0, 20, 2)], "UNREGISTERED")  # one batch's prunes
    for i in range(20, 26):  # one a call, as a sender prunes as it goes
        store.mark_invalid(APP, [f"p{i}"], "UNREGISTERED")
        store.mark_invalid(APP, [f"p{i}"], "UNREGISTERED")  # redelivered: counted once
    assert store.zone_size(APP, "Europe/Paris") == 14
    assert store.zone_sizes(APP) == {"Asia/Tokyo": 1, "Europe/Paris": 14}
    assert store.zones(APP) == ["Asia/Tokyo", "Europe/Paris"]


def test_a_refused_push_to_start_token_leaves_its_device_and_the_device_stays(
    devices: tuple[DeviceStore, Callable[[str, dict[str, Any]], None]],
) -> None:
    store, register = devices
    fields = {"platform": "ios", "token": "ab" * 32, "timezone": "Europe/Paris", "opted_in": True}
    register("fan", {**fields, "live_activity": {"push_to_start_token": "cd" * 32}})
    assert not store.forget_push_to_start(APP, "fan", "ef" * 32)  # not the device's token: nothing goes
    assert store.forget_push_to_start(APP, "fan", "cd" * 32)
    assert not store.forget_push_to_start(APP, "fan", "cd" * 32)  # redelivered: already gone
    assert not store.forget_push_to_start(APP, "nobody", "cd" * 32)
    device = store.get(APP, "fan") or {}
    assert "live_activity" not in device and (device["status"], device["token"]) == ("active", "ab" * 32)
    assert store.zone_size(APP, "Europe/Paris") == 1  # still in the audience
    register("fan", {**fields, "live_activity": {"push_to_start_token": "ef" * 32}})  # the app sends a new one
    assert (store.get(APP, "fan") or {})["live_activity"] == {"push_to_start_token": "ef" * 32}


def test_an_experiment_is_decided_once_and_its_rest_waves_count(campaigns: CampaignStore) -> None:
    created(campaigns, waves=2)  # one test wave and the decision
    other = campaigns
    if isinstance(campaigns, CampaignsRepository):  # another container: its own definition cache
        other = CampaignsRepository(campaigns._campaigns_name, campaigns._state_name, campaigns.timeseries)
    assert other.get(APP, CAMPAIGN, summed=False) is not None
    assert campaigns.mark_wave_fired(APP, CAMPAIGN, "w1", 0)
    definition = campaigns.definition(APP, CAMPAIGN, consistent=True)
    assert definition is not None
    stored = {**definition, "spec": definition["spec"].stored(), "revision": 1,
              "experiment": {"status": "decided", "winner": "b", "comparisons": [{"p_value": 0.0125}]},
              "waves": [{"wave_id": "w2-rest", "zones": []}]}  # fmt: skip
    assert campaigns.settle_experiment(stored, 3)
    assert not campaigns.settle_experiment({**stored, "experiment": {"status": "decided", "winner": "a"}}, 3)
    found = other.get(APP, CAMPAIGN, summed=False)
    assert found is not None and found["experiment"]["winner"] == "b" and found["revision"] == 1
    assert found["experiment"]["comparisons"] == [{"p_value": 0.0125}]
    assert found["waves_pending"] == 3 and found["waves"] == [{"wave_id": "w2-rest", "zones": []}]
