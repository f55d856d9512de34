"""Strict mode ends an invocation at its function's Timeout, as Lambda does: the caller gets
FunctionTimeout at the deadline, the handler's thread is stopped mid-work, and an SQS batch it held is
not deleted but returns after its visibility timeout. The function's Timeout is 1 s (timeout.yaml)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from samlocal import FunctionTimeout, LocalRuntime

pytestmark = pytest.mark.integration

TEMPLATE = Path(__file__).resolve().parents[1] / "fixtures" / "runtime" / "timeout.yaml"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalRuntime]:
    with LocalRuntime(TEMPLATE, stack_name="timeout-test", strict=True, background=False,
                      visibility_timeout=2) as local:  # fmt: skip
        yield local


def marks(stack: LocalRuntime) -> dict[str, dict[str, Any]]:
    table = stack.boto3_client("dynamodb")
    items = table.scan(TableName=stack.table_name("MarksTable"), ConsistentRead=True)["Items"]
    return {item["pk"]["S"]: item for item in items}


def records(*bodies: dict[str, Any], receive: int = 1) -> dict[str, Any]:
    return {"Records": [{"body": json.dumps(b), "attributes": {"ApproximateReceiveCount": str(receive)}}
                        for b in bodies]}  # fmt: skip


def test_an_invocation_that_overruns_is_stopped_at_its_timeout(stack: LocalRuntime) -> None:
    before = stack.timeouts().get("SlowFunction", 0)
    started = time.monotonic()
    with pytest.raises(FunctionTimeout, match=r"Task timed out after 1\.00 seconds"):
        stack.invoke("SlowFunction", records({"id": "direct", "work": 4}))
    waited = time.monotonic() - started
    assert 1.0 <= waited < 2.5, waited  # the deadline, plus the moment the worker takes to end
    assert stack.timeouts()["SlowFunction"] == before + 1
    assert any("Task timed out after 1.00 seconds" in line for line in stack.log.lines())
    remaining = int(marks(stack)["start#direct#1"]["remaining_ms"]["N"])
    assert 500 < remaining <= 1000, remaining  # the context counts down to the same deadline

    time.sleep(4)  # past the time the overrun asked for: its thread was ended, so it never finished
    assert "done#direct#1" not in marks(stack)

    # the next invocation gets a fresh worker and a deadline of its own
    assert stack.invoke("SlowFunction", records({"id": "after"})) == {"ok": 1}
    assert "done#after#1" in marks(stack)
    assert int(marks(stack)["start#after#1"]["remaining_ms"]["N"]) > 500
    assert stack.log.tracebacks() == []


def test_a_batch_that_timed_out_stays_on_its_queue_and_is_retried(stack: LocalRuntime) -> None:
    before = stack.timeouts().get("SlowFunction", 0)
    sqs = stack.boto3_client("sqs")
    # overruns on its first receive only: the retry after the visibility timeout finishes at once
    sqs.send_message(QueueUrl=stack.queue_url("SlowQueue"),
                     MessageBody=json.dumps({"id": "queued", "work": 4, "work_until": 2}))  # fmt: skip
    stack.drain(timeout=30)
    seen = marks(stack)
    assert {"start#queued#1", "start#queued#2", "done#queued#2"} <= set(seen)
    assert "done#queued#1" not in seen
    assert stack.timeouts()["SlowFunction"] == before + 1
    assert stack.log.tracebacks() == []


def test_work_within_its_timeout_is_untouched(stack: LocalRuntime) -> None:
    before = dict(stack.timeouts())
    assert stack.invoke("SlowFunction", records({"id": "quick", "work": 0.3})) == {"ok": 1}
    assert "done#quick#1" in marks(stack) and stack.timeouts() == before


def test_a_functions_worker_thread_ends_when_the_function_is_closed(stack: LocalRuntime) -> None:
    """What LocalRuntime.close() does to each function: its worker (container) thread is let go."""
    import threading

    def workers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "lambda-SlowFunction"]

    stack.invoke("SlowFunction", records({"id": "warm"}))
    (worker,) = workers()
    stack.functions.get("SlowFunction").close()
    worker.join(2)
    assert not worker.is_alive() and workers() == []
    assert stack.invoke("SlowFunction", records({"id": "again"})) == {"ok": 1}  # a new worker on demand
