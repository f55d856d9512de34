"""AWS list-price arithmetic for one million notifications: pure functions over measured figures.

Everything is per *unit of work* (one send batch for the sender, one audience page for the segment
query) and scaled to a million notifications, so every input is something the bench measured or
an assumption printed next to the result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

SENDER_MEMORY_MB = 1769  # template.yaml: SenderMemory's default (a full vCPU: README "Sizes and concurrency")
SEGMENT_MEMORY_MB = 1024  # template.yaml: SegmentMemory's default
FUNCTION_MEMORY_MB = {"CampaignsFunction": 512, "SegmentQueryFunction": SEGMENT_MEMORY_MB,
                      "SenderFunction": SENDER_MEMORY_MB, "DevicesFunction": 512}  # template.yaml  # fmt: skip


SQS_CHUNK_BYTES = 64 * 1024  # SQS bills each 64 KB chunk of a request's payload as one request
SQS_MAX_BATCH_BYTES = 1024 * 1024  # SendMessageBatch: 10 messages, 1 MiB in total
DYNAMO_READ_UNIT_BYTES = 4096
DYNAMO_WRITE_UNIT_BYTES = 1024
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1769 MB, proportionally less below


@dataclass(frozen=True, slots=True)
class Prices:
    """US East list prices, USD."""

    lambda_arm_gb_second: float = 0.0000133334
    lambda_per_request: float = 0.20 / 1e6
    sqs_per_request: float = 0.40 / 1e6  # standard queue, after the free tier
    dynamo_per_wru: float = 0.625 / 1e6  # on-demand write request unit
    dynamo_per_rru: float = 0.125 / 1e6  # on-demand read request unit
    pinpoint_per_million: float = 1.00
    sns_mobile_per_million: float = 0.50
    http_api_per_request: float = 1.00 / 1e6  # API Gateway HTTP API, first 300 M a month
    kms_per_request: float = 0.03 / 10_000  # AWS KMS API requests (aws.amazon.com/kms/pricing)


@dataclass(frozen=True, slots=True)
class Stage:
    """One unit of work of a pipeline stage and what AWS bills for it."""

    notifications: float  # notifications this unit carries (a send batch: 250)
    lambda_seconds: float  # billed Lambda duration of the unit
    memory_mb: int
    invocations: float  # Lambda invocations per unit (4 send batches per sender invocation: 0.25)
    sqs_requests: float  # billed SQS requests (64 KB chunks) per unit
    rru: float  # DynamoDB read request units per unit
    wru: float  # DynamoDB write request units per unit


def vcpu_share(memory_mb: int) -> float:
    return min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)


def billed_seconds(cpu_seconds: float, memory_mb: int) -> float:
    """A CPU-bound function's duration on Lambda: its CPU time stretched by the fraction of a vCPU it gets."""
    return cpu_seconds / vcpu_share(memory_mb)


def sqs_chunks(payload_bytes: int) -> int:
    return max(1, math.ceil(payload_bytes / SQS_CHUNK_BYTES))


def sqs_send_requests_per_message(message_bytes: int) -> float:
    """One message's share of a SendMessageBatch: as many as fit (≤ 10, ≤ 1 MiB) share its chunks."""
    per_batch = max(1, min(10, SQS_MAX_BATCH_BYTES // max(1, message_bytes)))
    return sqs_chunks(per_batch * message_bytes) / per_batch


def sqs_receive_delete_per_message(message_bytes: int, messages_per_receive: int) -> float:
    """The Lambda poller's ReceiveMessage (payload-sized) and DeleteMessageBatch, shared by the batch."""
    receive = sqs_chunks(messages_per_receive * message_bytes)
    return (receive + 1) / messages_per_receive


def dynamo_rru(item_bytes: int, *, consistent: bool) -> float:
    """GetItem/Query read units: 4 KB units, half for eventually consistent reads; a miss still costs one."""
    units = max(1, math.ceil(item_bytes / DYNAMO_READ_UNIT_BYTES))
    return float(units) if consistent else units / 2


def dynamo_wru(item_bytes: int, *, transactional: bool = False) -> float:
    """Write units of one put/update (the larger of the item before and after); transactions cost double."""
    units = max(1, math.ceil(item_bytes / DYNAMO_WRITE_UNIT_BYTES))
    return float(units * (2 if transactional else 1))


def stage_cost_per_million(stage: Stage, prices: Prices) -> dict[str, float]:
    """USD per million notifications for one stage, by AWS line item."""
    units = 1e6 / stage.notifications
    return {
        "lambda_compute": units * stage.lambda_seconds * stage.memory_mb / 1024 * prices.lambda_arm_gb_second,
        "lambda_requests": units * stage.invocations * prices.lambda_per_request,
        "sqs": units * stage.sqs_requests * prices.sqs_per_request,
        "dynamodb_reads": units * stage.rru * prices.dynamo_per_rru,
        "dynamodb_writes": units * stage.wru * prices.dynamo_per_wru,
    }


def total_per_million(stages: Mapping[str, Stage], prices: Prices) -> dict[str, Any]:
    """Every stage's lines, their sum, and the sum's ratio to Pinpoint's and SNS's prices."""
    lines = {name: stage_cost_per_million(stage, prices) for name, stage in stages.items()}
    total = sum(sum(parts.values()) for parts in lines.values())
    return {
        "stages": {name: {**parts, "subtotal": sum(parts.values())} for name, parts in lines.items()},
        "inputs": {name: asdict(stage) for name, stage in stages.items()},
        "total": total,
        "vs_pinpoint": total / prices.pinpoint_per_million,
        "vs_sns": total / prices.sns_mobile_per_million,
    }


EGRESS_PER_GB = 0.09  # data transfer out to the internet, US East, first 10 TB a month
TLS_RECORD_OVERHEAD = 29  # bytes per TLS 1.3 record (header, AEAD tag, content type): one record a request
TCP_IP_OVERHEAD = 52  # IPv4 + TCP headers with timestamps, per segment: one segment a request
ROUND_TRIP_SECONDS = 0.008  # in-region DynamoDB/SQS round trip a function waits on (assumed, not overlapped)


def waited_gb_seconds(per_million: Mapping[str, Any], memory_mb: Mapping[str, int]) -> float:
    """GB-s a function spends waiting on its DynamoDB and SQS calls: every call taken as waited for in full
    (an upper bound: the sender overlaps its batches' calls), at the memory of the function that made it.
    The event source's own receives and deletes are not the function's. A run that did not count calls
    per function charges them all at the largest memory."""
    if "function_calls" in per_million:
        calls = per_million["function_calls"]
        return sum(n * ROUND_TRIP_SECONDS * memory_mb[f] / 1024 for f, n in calls.items())
    calls = {k: v for k, v in per_million["requests"].items()
             if k.startswith("dynamodb.") or k in ("sqs.SendMessageBatch", "sqs.SendMessage")}  # fmt: skip
    return sum(calls.values()) * ROUND_TRIP_SECONDS * max(memory_mb.values()) / 1024


def measured_per_million(
    per_million: Mapping[str, Any], memory_mb: Mapping[str, int], prices: Prices
) -> dict[str, Any]:
    """USD per million notifications from a measured run's per-million counts (bench/wave.py), by AWS line;
    egress (bytes on the wire to the push services) apart, beside the AWS-side total."""
    cpu = per_million["lambda_cpu_seconds"]
    invocations = per_million["lambda_invocations"]
    gb_seconds = sum(billed_seconds(s, memory_mb[f]) * memory_mb[f] / 1024 for f, s in cpu.items())
    gb_seconds += waited_gb_seconds(per_million, memory_mb)
    lines = {
        "lambda_compute": gb_seconds * prices.lambda_arm_gb_second,
        "lambda_requests": sum(invocations.values()) * prices.lambda_per_request,
        "sqs": per_million["sqs_requests"] * prices.sqs_per_request,
        "dynamodb_reads": per_million["dynamodb_rru"] * prices.dynamo_per_rru,
        "dynamodb_writes": per_million["dynamodb_wru"] * prices.dynamo_per_wru,
    }
    aws_total = sum(lines.values())
    wire = per_million["wire_bytes"] + 1e6 * (TLS_RECORD_OVERHEAD + TCP_IP_OVERHEAD)
    egress = wire / 1e9 * EGRESS_PER_GB
    return {
        "lines": lines, "aws_total": aws_total, "lambda_gb_seconds": gb_seconds,
        "egress": {"bytes_per_notification": wire / 1e6, "usd": egress},
        "total_with_egress": aws_total + egress,
        "vs_pinpoint": aws_total / prices.pinpoint_per_million, "vs_sns": aws_total / prices.sns_mobile_per_million,
    }  # fmt: skip


# --- lines the measured run leaves out (issue 28 "Cost left out"): each is printed with its source ---

# Lambda bills the INIT phase of on-demand functions as duration since 1 August 2025
# (https://aws.amazon.com/blogs/compute/aws-lambda-standardizes-billing-for-init-phase/): one INIT per execution
# environment a wave starts, at most its reserved concurrency.
INIT_SECONDS = 1.0  # assumed per cold start (bench/scale.py:COLD_START_SECONDS)
# A pruned device (the provider said its token is gone): its item updated (1 WRU, ≤ 1 KB), its audience index
# entry removed (1) and its user index entry rewritten (1): dal/devices.py:mark_invalid.
PRUNE_WRU_PER_DEVICE = 3
# FCM's OAuth 2.0 access token: Google documents access tokens of up to 2,048 bytes
# (https://developers.google.com/identity/protocols/oauth2#size); service-account tokens run ~1,000 characters,
# not the stand-in's 133 (`ya29.` + 96 random bytes, local/standins/fcm.py). HTTP/1.1 sends it on every request.
FCM_BEARER_TOKEN_CHARS = 1024
STANDIN_BEARER_TOKEN_CHARS = 133
# DynamoDB with SSEEnabled uses the AWS managed key (KMS charges apply) and calls KMS to decrypt a table key,
# cached a few minutes per caller connection (https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html;
# aws/aws-sdk-go-v2#2128 counts one Decrypt per concurrent connection): a wave's execution environments each
# decrypt at least once per table they touch (a lower bound: a pool of N connections can make N).
KMS_TABLES_PER_ENVIRONMENT = 4  # devices, delivery state, analytics, campaigns/apps: the send path's tables


@dataclass(frozen=True, slots=True)
class Receipt:
    """What one `delivered` receipt (POST /v1/events, pushengine/events.py:record_event) costs AWS."""

    requests: float = 1  # the HTTP API request, and one Lambda invocation
    lambda_seconds: float = 0.015  # assumed: one small handler run
    memory_mb: int = 512
    rru: float = 3  # the app, the campaign and the device reads
    # the profile update on the device item (1) and its audience-index entry (1; the index projects the whole
    # item; +1 more on the user index for a device with a user), and the count's transaction: ledger 2,
    # counter shard 2, hour 2
    wru: float = 8


def init_per_million(
    environments: Mapping[str, int],
    memory_mb: Mapping[str, int],
    wave_notifications: float,
    prices: Prices,
    init_seconds: float = INIT_SECONDS,
) -> float:
    """USD per million notifications for the INIT phases of one wave's execution environments."""
    gb_seconds = sum(n * init_seconds * memory_mb[f] / 1024 for f, n in environments.items())
    return gb_seconds * prices.lambda_arm_gb_second * 1e6 / wave_notifications  # fmt: skip


def pruning_per_million(pruned_share: float, prices: Prices) -> float:
    """USD per million notifications of pruning the share of tokens a provider reports gone."""
    return 1e6 * pruned_share * PRUNE_WRU_PER_DEVICE * prices.dynamo_per_wru


def receipts_per_million(shown_share: float, prices: Prices, receipt: Receipt = Receipt()) -> float:
    """USD per million notifications when `shown_share` of them post a `delivered` receipt."""
    one = (receipt.requests * (prices.http_api_per_request + prices.lambda_per_request)
           + receipt.lambda_seconds * receipt.memory_mb / 1024 * prices.lambda_arm_gb_second
           + receipt.rru * prices.dynamo_per_rru + receipt.wru * prices.dynamo_per_wru)  # fmt: skip
    return 1e6 * shown_share * one


def kms_per_million(environments: Mapping[str, int], wave_notifications: float, prices: Prices) -> float:
    """USD per million notifications of the table-key decrypts one wave's environments make."""
    return (
        sum(environments.values())
        * KMS_TABLES_PER_ENVIRONMENT
        * prices.kms_per_request
        * 1e6
        / wave_notifications
    )


def realistic_token_bytes(fcm_share: float) -> float:
    """Bytes per notification a real FCM access token adds over the stand-in's, on HTTP/1.1 (once a request)."""
    return fcm_share * (FCM_BEARER_TOKEN_CHARS - STANDIN_BEARER_TOKEN_CHARS)


def left_out_lines(
    measured: Mapping[str, Any],
    environments: Mapping[str, int],
    memory_mb: Mapping[str, int],
    wave_notifications: float,
    prices: Prices,
    *,
    pruned_share: float = 0.01,
    shown_share: float = 1.0,
    fcm_share: float = 1.0,
) -> dict[str, dict[str, Any]]:
    """The lines a measured run (measured_per_million's result) leaves out, each with its USD per million and
    where its figure comes from; egress again with a real FCM token."""
    token = realistic_token_bytes(fcm_share)
    egress_bytes = measured["egress"]["bytes_per_notification"] + token
    return {
        "lambda_init": {"usd": init_per_million(environments, memory_mb, wave_notifications, prices),
                        "source": f"{sum(environments.values())} cold starts of {INIT_SECONDS:g} s a wave of "
                                  f"{wave_notifications / 1e6:g} M, INIT billed since 2025-08-01"},
        "pruning_writes": {"usd": pruning_per_million(pruned_share, prices),
                           "source": f"{pruned_share:.0%} of tokens pruned x {PRUNE_WRU_PER_DEVICE} WRU"},
        "delivered_receipts": {"usd": receipts_per_million(shown_share, prices),
                               "source": f"{shown_share:.0%} of pushes shown post `delivered`: an HTTP API "
                                         "request, an invocation, 3 RRU, 8 WRU each"},
        "kms_sse": {"usd": kms_per_million(environments, wave_notifications, prices),
                    "source": f"{KMS_TABLES_PER_ENVIRONMENT} table-key decrypts per environment a wave (SSEEnabled)"},
        "egress_real_token": {"usd": egress_bytes * 1e6 / 1e9 * EGRESS_PER_GB, "bytes_per_notification": egress_bytes,
                              "source": f"+{token:.0f} bytes a notification: a {FCM_BEARER_TOKEN_CHARS}-character "
                                        f"FCM access token instead of the stand-in's {STANDIN_BEARER_TOKEN_CHARS}"},
    }  # fmt: skip


def print_left_out(measured: Mapping[str, Any], lines: Mapping[str, Mapping[str, Any]]) -> None:
    print(
        f"AWS side measured: ${measured['aws_total']:.4f} per million; egress ${measured['egress']['usd']:.4f}"
    )
    print("Left out of the measured run (USD per million notifications, each with its source):")
    for name, line in lines.items():
        print(f"  {name:20} ${line['usd']:.4f}  ({line['source']})")
    others = sum(
        line["usd"] for name, line in lines.items() if name not in ("egress_real_token", "delivered_receipts")
    )
    print(
        f"  AWS side with INIT, pruning and KMS: ${measured['aws_total'] + others:.4f}; with real-token egress "
        f"${measured['aws_total'] + others + lines['egress_real_token']['usd']:.4f}; `delivered` receipts apart"
    )


def main(argv: list[str] | None = None) -> int:
    """python -m bench.cost [--wave reports/bench_wave.json] [--wave-size 1000000]: the measured run's cost
    and the lines it leaves out, for a wave that starts the template's reserved concurrency."""
    import argparse
    import json
    from pathlib import Path

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument(
        "--wave", type=Path, default=Path(__file__).resolve().parent.parent / "reports" / "bench_wave.json"
    )
    parser.add_argument("--wave-size", type=float, default=1e6)
    parser.add_argument("--pruned", type=float, default=0.01)
    args = parser.parse_args(argv)
    if not args.wave.exists():
        print(f"{args.wave} is missing: run python -m bench.wave first")
        return 1
    prices = Prices()
    measured = measured_per_million(
        json.loads(args.wave.read_text())["per_million"], FUNCTION_MEMORY_MB, prices
    )
    environments = {"SenderFunction": 800, "SegmentQueryFunction": 100}  # template.yaml's reserved defaults
    print_left_out(measured, left_out_lines(measured, environments, FUNCTION_MEMORY_MB, args.wave_size, prices,
                                            pruned_share=args.pruned))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
