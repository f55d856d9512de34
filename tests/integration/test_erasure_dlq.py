"""An erasure's pass over the send dead-letter queue, against moto with the template's queues: the batch
holding the user is rewritten with tombstones, every other message is left as it was and released, and a
pass out of time goes on as a jobs step."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from pushengine import erasure
from pushengine.delivery.erasure import pseudonym
from samlocal import create_queues, load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


def batch(app_id: str, *ids: str) -> dict:
    return {"app_id": app_id, "campaign_id": "c1", "batch_id": "b", "queued_at": 1.0,
            "devices": [{"id": i, "p": "android", "v": "default", "t": f"token-of-{i}",
                         "c": {"attributes": {"first_name": f"name-of-{i}"}}} for i in ids]}  # fmt: skip


def everything(sqs: object, url: str) -> list[str]:
    got: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get(  # type: ignore[attr-defined]
        "Messages", []
    ):
        got += [m["Body"] for m in messages]
    return got


def test_the_pass_rewrites_only_the_users_batches_and_hands_over_when_out_of_time(
    names: dict[str, str],
) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    queues = create_queues(load_template(TEMPLATE), sqs)
    dlq, audience_dlq, jobs = queues["SendDLQ"], queues["AudienceDLQ"], queues["JobsQueue"]
    others = [batch("app_1", f"o{i}") for i in range(11)] + [
        batch("app_2", "u1-phone")
    ]  # another app's u1-phone
    bodies = [json.dumps(b) for b in [*others, batch("app_1", "o-first", "u1-phone", "o-last")]]
    bodies += ["not json", json.dumps({"kind": "trigger", "app_id": "app_1", "device_id": "u1-phone"})]
    triggers = [json.dumps({"kind": "trigger", "app_id": a, "campaign_id": "c1", "device_id": d, "gen": 1})
                for a, d in (("app_1", "u1-phone"), ("app_1", "o1"), ("app_2", "u1-phone"))]  # fmt: skip
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    for body in triggers:
        sqs.send_message(QueueUrl=audience_dlq, MessageBody=body)
    deps = erasure.ErasureDeps(devices=None, campaigns=None, marks=None, store=None,  # type: ignore[arg-type]
                               send_dlq_url=dlq, audience_dlq_url=audience_dlq, jobs_queue_url=jobs)  # fmt: skip

    step = {"kind": "erase", "app_id": "app_1", "user_id": "u1", "devices": ["u1-phone"], "since": None,
            "stage": "dead_letters", "cursor": None}  # fmt: skip
    erasure.continue_erasure(deps, step, lambda: 0)  # out of time at once: handed on, nothing changed
    handed = sqs.receive_message(QueueUrl=jobs, MaxNumberOfMessages=10).get("Messages", [])
    assert [json.loads(m["Body"]) for m in handed] == [step]
    assert sorted(everything(sqs, dlq)) == sorted(bodies)

    sqs.purge_queue(QueueUrl=dlq)
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    counts: dict[str, int] = {}
    assert erasure.run(deps, step, until=lambda: False, counts=counts) is None  # the later stages: nothing
    assert counts["dead_letters"] == 2  # one batch rewritten, one triggered send dropped
    after = everything(sqs, dlq)  # every message visible again, right after the pass
    assert len(after) == len(bodies)
    changed = [json.loads(b) for b in after if b not in bodies]
    alias = pseudonym("app_1", "u1-phone")
    assert alias.startswith("erased-") and alias != pseudonym("app_2", "u1-phone")
    assert [[e["id"] for e in b["devices"]] for b in changed] == [["o-first", alias, "o-last"]]
    assert changed[0]["devices"][1] == {"id": alias, "p": "android", "v": "default", "erased": True}
    assert changed[0]["devices"][2]["t"] == "token-of-o-last"  # the others' entries as they were
    assert sum("token-of-u1-phone" in b for b in after) == 1  # app_2's own u1-phone is another device
    assert sorted(everything(sqs, audience_dlq)) == sorted(triggers[1:])  # only app_1's u1-phone is gone
