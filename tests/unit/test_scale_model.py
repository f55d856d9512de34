"""The scale model and the measured cost: pure arithmetic over measured figures and published limits."""

from __future__ import annotations

import pytest

from bench import cost, scale
from pushengine.config import Settings

FIGURES = scale.Figures(segment_cpu_per_device=250e-6, sender_cpu_per_notification=350e-6,
                        rru_per_notification=0.1, wru_per_notification=0.03)  # fmt: skip
DEFAULT, RAISED_STANDARD, RAISED_PROVISIONED = scale.SCENARIOS


def test_at_the_default_quota_fcm_binds_and_ten_million_take_the_quota_s_time() -> None:
    got = scale.deliver(10_000_000, FIGURES, DEFAULT, Settings())
    assert got["binding"] == "FCM quota (campaign lane)"
    floor = 10_000_000 / (600_000 * 0.9 / 61)  # the campaign lane's rate
    assert floor <= got["seconds"] <= floor * 1.05


def test_with_a_raised_quota_and_warm_pollers_ten_million_in_one_zone_take_under_a_minute() -> None:
    got = scale.deliver(10_000_000, FIGURES, RAISED_PROVISIONED, Settings())
    assert got["seconds"] <= 60
    assert RAISED_PROVISIONED.sender_concurrency + RAISED_PROVISIONED.segment_concurrency <= 1000


def test_standard_pollers_ramp_is_what_binds_a_cold_wave() -> None:
    got = scale.deliver(10_000_000, FIGURES, RAISED_STANDARD, Settings())
    assert got["binding"].startswith("sender concurrency (SQS event source ramp)")


def test_no_cursor_reads_more_pages_as_the_audience_grows() -> None:
    pages = {scale.deliver(n, FIGURES, RAISED_PROVISIONED, Settings())["pages_per_cursor"]
             for n in (1_000_000, 10_000_000, 100_000_000)}  # fmt: skip
    assert max(pages) <= Settings().audience_pages_per_task


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
