"""The scale model and the measured cost: pure arithmetic over measured figures and published limits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bench import cost, scale
from pushengine import pacing
from pushengine.config import Settings
from pushengine.dal import counters

SETTINGS = Settings()
# A run's figures in the shape bench/wave.py measures them (per notification), APNs' and Web Push's send
# paths dearer than FCM's as in `make bench`.
FIGURES = scale.Figures(
    segment_cpu_per_device=40e-6, sender_cpu_per_notification=140e-6, rru_per_notification=0.08,
    wru_per_notification=0.016, table_rru_per_notification=0.07, table_wru_per_notification=0.008,
    audience_rru_per_device=0.07, channel_cpu_delta={"fcm": 0.0, "apns": 260e-6, "webpush": 80e-6},
)  # fmt: skip
BY_NAME = {s.name: s for s in scale.SCENARIOS}
DEFAULT_FCM = BY_NAME["all FCM, default account"]
NO_LIMIT_WARM = BY_NAME["no provider limit, warm tables"]


def lane_rate(per_minute: float) -> float:
    """The campaigns' lane: 90% of the quota over any 61 one-second windows (pushengine/pacing.py)."""
    return per_minute * pacing.CAMPAIGN_SHARE / 61


def test_at_the_default_quota_fcm_binds_and_ten_million_take_the_quota_s_time() -> None:
    got = scale.deliver(10_000_000, FIGURES, DEFAULT_FCM, SETTINGS)
    assert got["binding"] == "FCM quota (campaign lane of 600k/min)"
    floor = 10_000_000 / lane_rate(600_000)
    assert floor <= got["seconds"] <= floor * 1.05


@pytest.mark.parametrize("per_minute", [600_000, 750_000, 1_000_000, 2_000_000])
def test_each_fcm_quota_binds_its_row_at_ten_million(per_minute: int) -> None:
    scenario = next(s for s in scale.SCENARIOS if s.quotas == {"fcm": per_minute} and s.mix == {"fcm": 1.0}
                    and s.dynamo_rru == scale.DYNAMO_TABLE_MAX)  # fmt: skip
    got = scale.deliver(10_000_000, FIGURES, scenario, SETTINGS)
    assert got["binding"] == f"FCM quota (campaign lane of {per_minute / 1000:,.0f}k/min)"
    assert 10_000_000 / lane_rate(per_minute) <= got["seconds"] <= 10_000_000 / lane_rate(per_minute) * 1.05
    assert scale.provider_floor(10_000_000, scenario) == pytest.approx(10_000_000 / (per_minute / 60))


def test_apns_and_web_push_have_no_quota_so_their_limit_is_the_sender_s_cpu_for_that_channel() -> None:
    for channel, name in (("apns", "APNs"), ("webpush", "Web Push")):
        scenario = replace(NO_LIMIT_WARM, mix={channel: 1.0}, sender_concurrency=20)
        binding, rate = scale.ceiling(FIGURES, scenario, SETTINGS)
        cpu = FIGURES.sender_cpu_per_notification + FIGURES.channel_cpu_delta[channel]
        assert binding.startswith("sender concurrency") and f"{name} {cpu * 1e6:.0f} µs" in binding
        assert rate == pytest.approx(20 * cost.vcpu_share(scenario.sender_memory_mb) / cpu)


def test_a_mixed_wave_waits_for_its_quota_bound_channel_alone() -> None:
    mixed = BY_NAME["40/40/20 FCM/APNs/Web Push, default account"]
    got = scale.deliver(10_000_000, FIGURES, mixed, SETTINGS)
    assert got["binding"] == "FCM quota (campaign lane of 600k/min)"
    fcm_alone = 4_000_000 / lane_rate(600_000)  # the other 6 M go in parallel under the sender's CPU
    assert fcm_alone <= got["seconds"] <= fcm_alone * 1.05


def test_the_engine_s_own_ceiling_is_bounded_and_named_without_a_provider_limit() -> None:
    binding, rate = scale.ceiling(FIGURES, NO_LIMIT_WARM, SETTINGS)
    assert "quota" not in binding and rate < 10_000_000
    # a zone's audience reads spread over AUDIENCE_KEY_BUCKETS partition keys of 3,000 RCU each
    heavy = replace(FIGURES, audience_rru_per_device=1.0)
    binding, rate = scale.ceiling(heavy, NO_LIMIT_WARM, SETTINGS)
    assert binding.startswith("hot item: zone index partition key")
    assert rate == pytest.approx(scale.AUDIENCE_KEY_BUCKETS * 3_000 / 1.0)
    got = scale.deliver(10_000_000, heavy, NO_LIMIT_WARM, SETTINGS)
    assert got["binding"].startswith("hot item: zone index partition key")
    assert got["seconds"] >= 10_000_000 / rate


def test_the_hourly_series_and_the_counters_cap_the_rate_at_their_shard_count() -> None:
    items = {i.name.split(" (")[0]: i for i in scale.hot_items(FIGURES, DEFAULT_FCM, SETTINGS)}
    batches_per_second = 1_000 / 2 * counters.SHARDS  # 2 WCU a transactional write of a ≤ 1 KB item
    for name in ("campaign counter shard", "hourly analytics series shard"):
        assert items[name].ceiling == pytest.approx(batches_per_second * SETTINGS.send_batch_size)
    assert "FCM quota window shard" in items
    # the progress item: one transaction per cursor task, of 20 pages of 500 planned 10% under (9,000 devices)
    per_task = SETTINGS.audience_page_size * SETTINGS.audience_pages_per_task * 0.9
    assert items["campaign progress item"].ceiling == pytest.approx(1_000 / 2 * per_task)
    # one unsharded item would hold a wave to 500 transactions a second: the 250,000 a second
    one = scale.HotItem("one item", 1_000, 2 / SETTINGS.send_batch_size)
    assert one.ceiling == pytest.approx(250_000)


def test_a_new_table_s_throughput_binds_a_default_account_without_a_provider_limit() -> None:
    default = BY_NAME["no provider limit, default account"]
    binding, rate = scale.ceiling(FIGURES, default, SETTINGS)
    assert binding == "DynamoDB table reads (12,000 RRU/s)"
    assert rate == pytest.approx(12_000 / FIGURES.table_rru())


def test_standard_pollers_ramp_is_what_binds_a_cold_wave() -> None:
    got = scale.deliver(10_000_000, FIGURES, NO_LIMIT_WARM, SETTINGS)
    assert got["binding"] == "sender concurrency (SQS event source ramp)"


def test_provisioned_pollers_run_their_fixed_pool_from_the_start_and_cap_its_throughput() -> None:
    assert scale.running(800, 0.0) == scale.SQS_ESM_START
    assert scale.running(800, 60.0) == scale.SQS_ESM_START + 300
    assert scale.running(800, 0.0, provisioned_pollers=20) == 200  # 10 invokes a poller
    assert scale.running(800, 0.0, provisioned_pollers=200) == 800  # never past the reserved concurrency
    warm = BY_NAME["no provider limit, warm tables, provisioned pollers"]
    cold = scale.deliver(10_000_000, FIGURES, NO_LIMIT_WARM, SETTINGS)
    assert scale.deliver(10_000_000, FIGURES, warm, SETTINGS)["seconds"] < cold["seconds"]
    # a poller takes 1 MB/s of the send queue's payload: at 2,000 bytes a notification, 500 a second
    heavy = replace(FIGURES, sqs_bytes_per_notification=4_000)
    binding, rate = scale.ceiling(heavy, warm, SETTINGS)
    assert binding == f"provisioned pollers' throughput ({warm.provisioned_pollers} x 1 MB/s)"
    assert rate == pytest.approx(warm.provisioned_pollers * 500)
    assert scale.ceiling(heavy, NO_LIMIT_WARM, SETTINGS)[0] != binding  # standard pollers: no such cap


def test_every_scenario_deploys_on_a_default_account() -> None:
    for scenario in scale.SCENARIOS:
        assert scenario.fits_account(), scenario.name
    assert not replace(DEFAULT_FCM, sender_concurrency=800, segment_concurrency=200).fits_account()


def test_no_cursor_reads_more_pages_as_the_audience_grows() -> None:
    pages = {scale.deliver(n, FIGURES, NO_LIMIT_WARM, SETTINGS)["pages_per_cursor"]
             for n in (1_000_000, 10_000_000, 100_000_000)}  # fmt: skip
    assert max(pages) <= SETTINGS.audience_pages_per_task


def test_figures_load_the_busiest_table_and_the_index_reads_and_each_channel_s_send_path(tmp_path) -> None:
    wave = tmp_path / "bench_wave.json"
    wave.write_text(
        '{"per_million": {"lambda_cpu_seconds": {"SenderFunction": 140, "SegmentQueryFunction": 40},'
        ' "dynamodb_rru": 82000, "dynamodb_wru": 16000, "units": {"RRU DevicesTable Query": 69000,'
        ' "RRU DeliveryStateTable GetItem": 9000, "RRU DeliveryStateTable BatchGetItem": 4000,'
        ' "WRU DeliveryStateTable TransactWriteItems": 10000, "WRU AnalyticsTable TransactUpdate": 6000}}}'
    )
    bench = tmp_path / "bench.json"
    bench.write_text(
        '{"throughput": [{"channel": "web", "cpu_us_per_message": 200}, {"channel": "web", "cpu_us_per_message": 9},'
        ' {"channel": "android", "cpu_us_per_message": 120}, {"channel": "ios", "cpu_us_per_message": 400}]}'
    )
    got = scale.Figures.load(wave, bench)
    assert got.table_rru() == pytest.approx(0.069) and got.table_wru() == pytest.approx(0.010)
    assert got.audience_rru() == pytest.approx(0.069)
    assert got.sender_cpu("apns") == pytest.approx((140 + 400 - 120) * 1e-6)
    assert got.sender_cpu("webpush") == pytest.approx((140 + 200 - 120) * 1e-6)
    assert "bench.json" in got.channel_source
    assert "README" in scale.Figures.load(wave, tmp_path / "absent.json").channel_source


def test_measured_cost_lines_and_egress_apart() -> None:
    per_million = {
        "lambda_cpu_seconds": {"SenderFunction": 300.0}, "lambda_invocations": {"SenderFunction": 400.0},
        "requests": {"dynamodb.GetItem": 1000.0, "sqs.ReceiveMessage": 500.0},
        "sqs_requests": 1000.0, "dynamodb_rru": 8000.0, "dynamodb_wru": 16000.0, "wire_bytes": 400e6,
    }  # fmt: skip
    priced = cost.measured_per_million(per_million, {"SenderFunction": 1024}, cost.Prices())
    gb_s = 300 / (1024 / 1769) + 1000 * cost.ROUND_TRIP_SECONDS  # receives are the event source's, not waited
    assert priced["lambda_gb_seconds"] == pytest.approx(gb_s)
    assert priced["lines"]["dynamodb_writes"] == pytest.approx(16000 * 0.625e-6)
    assert priced["lines"]["sqs"] == pytest.approx(1000 * 0.4e-6)
    assert priced["egress"]["bytes_per_notification"] == 400 + 29 + 52
    assert priced["egress"]["usd"] == pytest.approx(481e6 / 1e9 * 0.09)
    assert priced["aws_total"] == pytest.approx(sum(priced["lines"].values()))
