"""The bench's cost arithmetic: measured figures in, dollars per million out (tables worked by hand)."""

from __future__ import annotations

from typing import Any

import pytest

from bench import cost

PRICES = cost.Prices()
# 1 ms of CPU per notification, 250 per batch, at a full vCPU and 1024 MB: 0.25 s of 1 GB per batch.
BASE = cost.Stage(notifications=250, lambda_seconds=0.25, memory_mb=1024, invocations=0.25,
                  sqs_requests=3.5, rru=2, wru=10)  # fmt: skip


@pytest.mark.parametrize(
    ("stage", "expected"),
    [
        # 4000 batches x 0.25 GB-s x $0.0000133334 = $0.0133334
        (BASE, {"lambda_compute": 0.0133334, "lambda_requests": 0.0002, "sqs": 0.0056,
                "dynamodb_reads": 0.001, "dynamodb_writes": 0.025}),
        # 512 MB halves compute; 500 per unit halves every line
        (cost.Stage(500, 0.25, 512, 0.25, 3.5, 2, 10),
         {"lambda_compute": 0.00333335, "lambda_requests": 0.0001, "sqs": 0.0028,
          "dynamodb_reads": 0.0005, "dynamodb_writes": 0.0125}),
        (cost.Stage(250, 0.0, 1024, 0.0, 0.0, 0.0, 0.0),
         {"lambda_compute": 0.0, "lambda_requests": 0.0, "sqs": 0.0, "dynamodb_reads": 0.0,
          "dynamodb_writes": 0.0}),
    ],
)  # fmt: skip
def test_stage_cost_per_million(stage: cost.Stage, expected: dict[str, float]) -> None:
    got = cost.stage_cost_per_million(stage, PRICES)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_total_sums_stages_and_compares_with_pinpoint_and_sns() -> None:
    result = cost.total_per_million({"sender": BASE, "again": BASE}, PRICES)
    one = 0.0133334 + 0.0002 + 0.0056 + 0.001 + 0.025
    assert result["stages"]["sender"]["subtotal"] == pytest.approx(one)
    assert result["total"] == pytest.approx(2 * one)
    assert result["vs_pinpoint"] == pytest.approx(2 * one / 1.00)
    assert result["vs_sns"] == pytest.approx(2 * one / 0.50)


@pytest.mark.parametrize(
    ("cpu_seconds", "memory_mb", "billed"),
    [(1.0, 1769, 1.0), (1.0, 3008, 1.0), (1.0, 1024, 1769 / 1024), (0.5, 512, 0.5 * 1769 / 512)],
)
def test_billed_seconds_stretch_cpu_by_the_vcpu_share(
    cpu_seconds: float, memory_mb: int, billed: float
) -> None:
    assert cost.billed_seconds(cpu_seconds, memory_mb) == pytest.approx(billed)


@pytest.mark.parametrize(
    ("size", "expected"),
    [(100, 1), (65536, 1), (65537, 2), (256 * 1024, 4), (0, 1)],
)
def test_sqs_bills_64kb_chunks(size: int, expected: int) -> None:
    assert cost.sqs_chunks(size) == expected


@pytest.mark.parametrize(
    ("message_bytes", "expected"),
    [
        (300, 0.1),  # ten small messages share one request
        (100_000, 16 / 10),  # ten fit in 1 MiB: 1,000,000 bytes = 16 chunks
        (200_000, 16 / 5),  # five fit in 1 MiB: 1,000,000 bytes = 16 chunks
    ],
)
def test_sqs_send_share(message_bytes: int, expected: float) -> None:
    assert cost.sqs_send_requests_per_message(message_bytes) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("message_bytes", "per_receive", "expected"),
    [(100_000, 4, (7 + 1) / 4), (300, 5, (1 + 1) / 5)],
)
def test_sqs_receive_and_delete_share(message_bytes: int, per_receive: int, expected: float) -> None:
    assert cost.sqs_receive_delete_per_message(message_bytes, per_receive) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("size", "consistent", "expected"),
    [(0, True, 1.0), (4096, True, 1.0), (4097, True, 2.0), (4097, False, 1.0), (300_000, False, 37.0)],
)
def test_read_units(size: int, consistent: bool, expected: float) -> None:
    assert cost.dynamo_rru(size, consistent=consistent) == expected


@pytest.mark.parametrize(
    ("size", "transactional", "expected"),
    [(0, False, 1.0), (1024, False, 1.0), (1025, False, 2.0), (1283, True, 4.0), (200, True, 2.0)],
)
def test_write_units(size: int, transactional: bool, expected: float) -> None:
    assert cost.dynamo_wru(size, transactional=transactional) == expected


@pytest.mark.parametrize(
    ("per_million", "expected"),
    [
        # per function: 1,000 calls of 8 ms at 512 MB, 2,000 at 1024 MB
        ({"function_calls": {"Seg": 1000, "Send": 2000}, "requests": {}}, 1000 * 0.008 * 0.5 + 2000 * 0.008),
        # no per-function counts: the function's calls (not the event source's) at the largest memory
        ({"requests": {"dynamodb.GetItem": 1000, "sqs.SendMessageBatch": 500, "sqs.ReceiveMessage": 900}},
         1500 * 0.008),
    ],
)  # fmt: skip
def test_waited_time_at_the_calling_functions_memory(per_million: dict[str, Any], expected: float) -> None:
    assert cost.waited_gb_seconds(per_million, {"Seg": 512, "Send": 1024}) == pytest.approx(expected)


# --- the lines a measured run leaves out: one test a line, each worked by hand ---
WAVE_ENVIRONMENTS = {"SenderFunction": 800, "SegmentQueryFunction": 100}
WAVE_MEMORY = {"SenderFunction": 2048, "SegmentQueryFunction": 1024}


def test_lambda_init_is_billed_once_per_environment_a_wave_starts() -> None:
    # 800 x 1 s x 2 GB + 100 x 1 s x 1 GB = 1,700 GB-s for a wave of 2 M: 850 GB-s a million
    got = cost.init_per_million(WAVE_ENVIRONMENTS, WAVE_MEMORY, 2e6, PRICES, init_seconds=1.0)
    assert got == pytest.approx(850 * 0.0000133334)
    assert cost.init_per_million(WAVE_ENVIRONMENTS, WAVE_MEMORY, 20e6, PRICES) == pytest.approx(got / 10)


def test_pruning_writes_three_units_per_pruned_device() -> None:
    # 2% of a million = 20,000 devices x 3 WRU = 60,000 WRU x $0.625/M
    assert cost.pruning_per_million(0.02, PRICES) == pytest.approx(60_000 * 0.625e-6)


def test_delivered_receipts_cost_about_six_dollars_per_million_shown() -> None:
    # per receipt: $1.00/M HTTP API + $0.20/M invocation + 0.015 s x 0.5 GB of Lambda + 3 RRU + 8 WRU
    one = 1.0e-6 + 0.2e-6 + 0.015 * 0.5 * 0.0000133334 + 3 * 0.125e-6 + 8 * 0.625e-6
    assert cost.receipts_per_million(1.0, PRICES) == pytest.approx(1e6 * one)
    assert 6.0 <= cost.receipts_per_million(1.0, PRICES) <= 7.0
    assert cost.receipts_per_million(0.5, PRICES) == pytest.approx(1e6 * one / 2)


def test_kms_decrypts_a_table_key_per_environment_and_table_a_wave() -> None:
    # 900 environments x 4 tables = 3,600 requests x $0.03 per 10,000, for a wave of 1 M
    assert cost.kms_per_million(WAVE_ENVIRONMENTS, 1e6, PRICES) == pytest.approx(3_600 * 0.03 / 10_000)


def test_egress_is_measured_again_with_a_real_fcm_access_token() -> None:
    measured = {"egress": {"bytes_per_notification": 836.0}}
    lines = cost.left_out_lines(measured, WAVE_ENVIRONMENTS, WAVE_MEMORY, 1e6, PRICES, fcm_share=1.0)
    real = lines["egress_real_token"]
    assert real["bytes_per_notification"] == 836 + 1024 - 133  # the stand-in's token is `ya29.` + 128 chars
    assert real["usd"] == pytest.approx((836 + 891) * 1e6 / 1e9 * 0.09)
    web_only = cost.left_out_lines(measured, WAVE_ENVIRONMENTS, WAVE_MEMORY, 1e6, PRICES, fcm_share=0.0)
    assert web_only["egress_real_token"]["bytes_per_notification"] == 836
    assert set(lines) == {
        "lambda_init",
        "pruning_writes",
        "delivered_receipts",
        "kms_sse",
        "egress_real_token",
    }
    assert all(line["source"] for line in lines.values())
