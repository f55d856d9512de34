"""What a refused DynamoDB write means, against botocore's Stubber answering as DynamoDB does:
only the ledger's own ConditionalCheckFailed is "already recorded"; conflicts and throttling are
retried and, past the bound, raised so SQS redelivers."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from pushengine.dal import aws
from pushengine.dal.expressions import add_update

ITEMS = [
    {"Put": {"TableName": "t", "Item": {"pk": {"S": "ledger"}}, "ConditionExpression": "attribute_not_exists(done)"}},
    {"Update": {"TableName": "t", "Key": {"pk": {"S": "progress"}}, "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}}}},
]  # fmt: skip


def cancelled(*codes: str) -> dict[str, Any]:
    return {
        "service_error_code": "TransactionCanceledException",
        "service_message": f"Transaction cancelled, please refer cancellation reasons for specific reasons "
        f"[{', '.join(codes)}]",
        "http_status_code": 400,
        "response_meta": {},
        "modeled_fields": {"CancellationReasons": [{"Code": c} for c in codes]},
    }


def run(answers: list[dict[str, Any] | None], *, attempts: int = 6) -> tuple[bool | str, int, list[float]]:
    """Answers in order (None = success) to transact(guard=0); returns (result, calls made, sleeps)."""
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    sleeps: list[float] = []
    with Stubber(client) as stub:
        for answer in answers:
            if answer is None:
                stub.add_response("transact_write_items", {}, {"TransactItems": ITEMS})
            else:
                stub.add_client_error(
                    "transact_write_items", expected_params={"TransactItems": ITEMS}, **answer
                )
        try:
            result: bool | str = aws.conditional(
                lambda: client.transact_write_items(TransactItems=ITEMS),
                guard=0, attempts=attempts, sleep=sleeps.append,
            )  # fmt: skip
        except aws.Contended:
            result = "contended"
        calls = len(answers) - len(stub._queue)
    return result, calls, sleeps


def test_applied_first_time() -> None:
    assert run([None]) == (True, 1, [])


def test_ledger_condition_means_already_recorded() -> None:
    result, calls, _ = run([cancelled("ConditionalCheckFailed", "None")])
    assert (result, calls) == (False, 1)


def test_conflict_on_progress_item_is_retried_until_applied() -> None:
    result, calls, sleeps = run(
        [cancelled("None", "TransactionConflict"), cancelled("None", "TransactionConflict"), None]
    )
    assert (result, calls) == (True, 3)
    assert len(sleeps) == 2 and all(0 <= s <= 1.0 for s in sleeps)


def test_throttled_transaction_is_retried() -> None:
    result, calls, _ = run(
        [cancelled("ThrottlingError", "None"), cancelled("None", "ProvisionedThroughputExceeded"), None]
    )
    assert (result, calls) == (True, 3)


def test_mixed_ledger_condition_and_conflict_is_already_recorded() -> None:
    # The ledger exists whatever else conflicted: the batch was counted before.
    result, calls, _ = run([cancelled("ConditionalCheckFailed", "TransactionConflict")])
    assert (result, calls) == (False, 1)


def test_contention_past_the_bound_is_raised_for_redelivery() -> None:
    result, calls, sleeps = run([cancelled("None", "TransactionConflict")] * 3, attempts=3)
    assert (result, calls, len(sleeps)) == ("contended", 3, 2)


def test_condition_of_another_item_is_a_defect_not_a_duplicate() -> None:
    with pytest.raises(Exception, match="TransactionCanceled"):
        run([cancelled("None", "ConditionalCheckFailed")])


def test_validation_error_is_raised_not_retried() -> None:
    error = {"service_error_code": "ValidationException", "service_message": "Item size has exceeded the maximum",
             "http_status_code": 400}  # fmt: skip
    with pytest.raises(Exception, match="ValidationException"):
        run([error])


def test_plain_write_meeting_a_transaction_is_retried() -> None:
    conflict = {"service_error_code": "TransactionConflictException", "service_message": "conflict",
                "http_status_code": 400}  # fmt: skip
    assert run([conflict, None])[:2] == (True, 2)


def test_backoff_is_jittered_and_capped() -> None:
    samples = [aws.backoff(a) for a in range(12) for _ in range(20)]
    assert all(0 <= s <= 1.0 for s in samples) and len(set(samples)) > 100


@pytest.mark.parametrize(
    ("deltas", "expected"),
    [
        (  # nested paths share aliases; floats go as numbers; zero deltas are left out
            [(("stats", "sent"), 3), (("stats", "deferred"), 0), (("vstats", "b", "sent"), 1), (("rev",), 2.5)],
            {"UpdateExpression": "ADD #n0.#n1 :v0, #n2.#n3.#n1 :v1, #n4 :v2",
             "ExpressionAttributeNames": {"#n0": "stats", "#n1": "sent", "#n2": "vstats", "#n3": "b",
                                          "#n4": "rev"},
             "ExpressionAttributeValues": {":v0": {"N": "3"}, ":v1": {"N": "1"}, ":v2": {"N": "2.5"}}},
        ),
        ([(("deferred",), -1)], {"UpdateExpression": "ADD #n0 :v0", "ExpressionAttributeNames": {"#n0": "deferred"},
                                 "ExpressionAttributeValues": {":v0": {"N": "-1"}}}),
    ],
)  # fmt: skip
def test_add_update_aliases_every_name(
    deltas: list[tuple[tuple[str, ...], float]], expected: dict[str, Any]
) -> None:
    update = add_update("t", {"pk": "progress#a#c"}, deltas)
    assert update == {"Update": {"TableName": "t", "Key": {"pk": {"S": "progress#a#c"}}, **expected}}


def test_add_update_is_none_when_nothing_changes() -> None:
    assert add_update("t", {"pk": "p"}, [(("stats", "sent"), 0)]) is None
    assert add_update("t", {"pk": "p"}, []) is None


def test_batch_get_asks_100_keys_a_call_and_again_for_unprocessed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(aws.time, "sleep", lambda _: None)
    client = boto3.client(
        "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    keys = [{"pk": {"S": f"k{i}"}} for i in range(150)]
    with Stubber(client) as stub:
        stub.add_response(  # throttled: two of the first hundred come back unprocessed
            "batch_get_item",
            {
                "Responses": {"t": [dict(k) for k in keys[:98]]},
                "UnprocessedKeys": {"t": {"Keys": keys[98:100]}},
            },
            {"RequestItems": {"t": {"Keys": keys[:100], "ConsistentRead": True}}},
        )
        stub.add_response(
            "batch_get_item",
            {"Responses": {"t": [dict(k) for k in keys[98:]]}},
            {"RequestItems": {"t": {"Keys": keys[100:] + keys[98:100], "ConsistentRead": True}}},
        )
        items = aws.batch_get(client, "t", keys)
        stub.assert_no_pending_responses()
    assert sorted(i["pk"]["S"] for i in items) == sorted(k["pk"]["S"] for k in keys)
