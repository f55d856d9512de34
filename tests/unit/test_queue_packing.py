"""SQS fan-out within SQS's limits: ≤ 10 entries and ≤ 1 MiB per SendMessageBatch, each message within the
queue's MaximumMessageSize; a send batch too big for one message is split, never truncated."""

from __future__ import annotations

import pytest

from pushengine.dal.queues import BATCH_BYTES, MessageTooLarge, pack, size_of
from pushengine.delivery.segment import split_to_fit

KIB = 1024


def test_ten_small_messages_share_one_call() -> None:
    assert list(pack([100] * 23, max_message=256 * KIB)) == [
        list(range(10)),
        list(range(10, 20)),
        [20, 21, 22],
    ]


def test_calls_stay_within_one_mebibyte() -> None:
    sizes = [150 * KIB] * 10  # ten 250-device Web Push batches: 1.5 MiB together
    groups = list(pack(sizes, max_message=256 * KIB))
    assert [i for g in groups for i in g] == list(range(10))  # every message, in order, once
    assert all(sum(sizes[i] for i in g) <= BATCH_BYTES for g in groups)
    assert [len(g) for g in groups] == [6, 4]


def test_exactly_one_mebibyte_fits() -> None:
    assert list(pack([BATCH_BYTES // 4] * 4, max_message=BATCH_BYTES)) == [[0, 1, 2, 3]]


def test_a_message_over_the_queue_limit_is_refused_before_any_call() -> None:
    with pytest.raises(MessageTooLarge, match="message 1"):
        list(pack([10, 300 * KIB], max_message=256 * KIB))


def web_batch(n: int) -> dict:
    endpoint = "https://fcm.googleapis.com/fcm/send/" + "x" * 150
    devices = [
        {"id": f"web-{i:04d}", "p": "web", "v": "default",
         "s": {"endpoint": f"{endpoint}{i}", "keys": {"p256dh": "B" * 87, "auth": "A" * 22}},
         "c": {"locale": "en-US", "timezone": "Europe/Paris", "attributes": {"first_name": "Ana" * 20}}}
        for i in range(n)
    ]  # fmt: skip
    return {"app_id": "app_1", "campaign_id": "c1", "batch_id": "w.z.0.0.0", "devices": devices}


def test_split_to_fit_halves_until_each_part_fits() -> None:
    batch = web_batch(250)
    limit = 64 * KIB
    assert size_of(batch) > limit
    parts = split_to_fit(batch, limit)
    assert all(size_of(p) <= limit for p in parts)
    assert [d["id"] for p in parts for d in p["devices"]] == [d["id"] for d in batch["devices"]]
    assert len({p["batch_id"] for p in parts}) == len(parts)
    assert parts == split_to_fit(web_batch(250), limit)  # a redelivered task makes the same batch ids


def test_a_batch_that_fits_is_left_alone() -> None:
    batch = web_batch(3)
    assert split_to_fit(batch, 256 * KIB) == [batch]
