"""Strict mode's pure rules: fault-rate parsing, seeded draws, DynamoDB numbers and sizes, SQS sizes, a user
pool's password policy, a Query cursor inside its key condition."""

from __future__ import annotations

import pytest

from local.serve import strict_options
from samlocal.strict import (
    DEFAULT_SERVE_FAULTS,
    Faults,
    attribute_size,
    check_number,
    item_size,
    parse_faults,
    password_problem,
    sqs_message_size,
    start_in_condition,
)

pytestmark = pytest.mark.unit


def test_fault_rates_parse_from_the_environment_form() -> None:
    assert parse_faults("transaction_conflict=0.2, throttle=0.05,sqs_5xx=0.01;scheduler_5xx=1") == {
        "transaction_conflict": 0.2, "throttle": 0.05, "sqs_5xx": 0.01, "scheduler_5xx": 1.0,
    }  # fmt: skip
    assert parse_faults("") == parse_faults(None) == {}
    with pytest.raises(ValueError, match="unknown fault 'conflict'"):
        parse_faults("conflict=0.2")
    with pytest.raises(ValueError, match="not between 0 and 1"):
        parse_faults("throttle=1.5")
    with pytest.raises(ValueError, match="expected name=rate"):
        parse_faults("throttle")


def test_the_same_seed_draws_the_same_faults() -> None:
    first, second = Faults({"throttle": 0.3}, seed=7), Faults({"throttle": 0.3}, seed=7)
    draws = [first.draw("throttle") for _ in range(200)]
    assert draws == [second.draw("throttle") for _ in range(200)]
    assert 30 < sum(draws) < 90
    assert not any(Faults(seed=7).draw("throttle") for _ in range(200))


def test_rates_change_while_running_and_raised_puts_them_back() -> None:
    faults = Faults({"throttle": 0.1})
    faults.update(sqs_5xx=0.5)
    assert faults.rates["throttle"] == 0.1 and faults.rates["sqs_5xx"] == 0.5
    with faults.raised(throttle=1.0, transaction_conflict=1.0):
        assert faults.draw("throttle") and faults.draw("transaction_conflict")
    assert faults.rates["throttle"] == 0.1 and faults.rates["transaction_conflict"] == 0.0
    faults.set(write_conflict=0.2)
    assert faults.rates == {"transaction_conflict": 0.0, "write_conflict": 0.2, "throttle": 0.0,
                            "sqs_5xx": 0.0, "scheduler_5xx": 0.0, "cognito_throttle": 0.0}  # fmt: skip
    faults.clear()
    assert set(faults.rates.values()) == {0.0}


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("0", None), ("-0.0", None), ("1E-130", None), ("-1E-130", None),
        ("9.9999999999999999999999999999999999999E+125", None),
        ("12345678901234567890123456789012345678", None),  # 38 digits
        ("1" + "0" * 40, None),  # 41 digits, one significant
        ("123456789012345678901234567890123456789", "more than 38 significant digits"),
        ("1E+126", "Number overflow"), ("-1e300", "Number overflow"), ("1e400", "Number overflow"),
        ("1E-131", "Number underflow"), ("1e-300", "Number underflow"),
        ("NaN", "cannot be converted"), ("Infinity", "cannot be converted"), ("12abc", "cannot be converted"),
    ],
)  # fmt: skip
def test_dynamodb_numbers(number: str, problem: str | None) -> None:
    found = check_number(number)
    assert (found is None) if problem is None else (problem in str(found))


def test_dynamodb_sizes_count_names_values_and_containers() -> None:
    assert attribute_size({"S": "héllo"}) == 6
    assert attribute_size({"N": "12345"}) == 4  # (5 significant digits + 1) // 2 + 1
    assert attribute_size({"B": "AAEC"}) == 3
    assert attribute_size({"BOOL": True}) == attribute_size({"NULL": True}) == 1
    assert attribute_size({"L": [{"S": "ab"}, {"S": "c"}]}) == 3 + (1 + 2) + (1 + 1)
    assert attribute_size({"M": {"k": {"S": "v"}}}) == 3 + 1 + 1 + 1
    assert item_size({"pk": {"S": "a"}, "count": {"N": "7"}}) == (2 + 1) + (5 + 2)


def test_sqs_sizes_are_utf8_bytes_of_body_and_attributes() -> None:
    assert sqs_message_size({"MessageBody": "é" * 10}) == 20
    entry = {
        "MessageBody": "ab",
        "MessageAttributes": {
            "trace": {"DataType": "String", "StringValue": "xyz"},
            "raw": {"DataType": "Binary", "BinaryValue": "AAEC"},
        },
    }
    assert sqs_message_size(entry) == 2 + (5 + 6 + 3) + (3 + 6 + 3)


def test_serve_reads_strict_mode_faults_and_endpoint_from_the_environment() -> None:
    assert strict_options({}) == {"strict": False, "faults": {}, "fault_seed": 0, "aws_endpoint_url": None}
    assert strict_options({"STRICT_AWS": "1"})["faults"] == DEFAULT_SERVE_FAULTS
    options = strict_options(
        {"STRICT_AWS": "true", "STRICT_AWS_FAULTS": "throttle=0.5", "STRICT_AWS_SEED": "3"}
    )
    assert options == {"strict": True, "faults": {"throttle": 0.5}, "fault_seed": 3, "aws_endpoint_url": None}
    assert strict_options({"STRICT_AWS": "1", "STRICT_AWS_FAULTS": "none"})["faults"] == {}
    assert (
        strict_options({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"})["aws_endpoint_url"]
        == "http://127.0.0.1:4566"
    )


def test_raised_with_operations_draws_a_fault_only_for_those_operations() -> None:
    faults = Faults(seed=3)
    with faults.raised(throttle=1.0, operations={"UpdateItem"}):
        assert faults.draw("throttle", "UpdateItem") and not faults.draw("throttle", "Query")
    assert not faults.draw("throttle", "UpdateItem")  # back to no throttling
    with faults.raised(throttle=1.0):  # unscoped again: every operation
        assert faults.draw("throttle", "Query")


# The console pool's policy (template.yaml): 12 characters, lower, upper and a number; symbols not required.
POOL_POLICY = {"MinimumLength": 12, "RequireLowercase": True, "RequireUppercase": True, "RequireNumbers": True,
               "RequireSymbols": False}  # fmt: skip


@pytest.mark.parametrize(
    ("password", "policy", "problem"),
    [
        ("Abcdefghijk1", POOL_POLICY, None),
        ("Abcdefghij1", POOL_POLICY, "Password not long enough"),
        ("abcdefghijk1", POOL_POLICY, "Password must have uppercase characters"),
        ("ABCDEFGHIJK1", POOL_POLICY, "Password must have lowercase characters"),
        ("Abcdefghijkl", POOL_POLICY, "Password must have numeric characters"),
        ("Abcdefghijk1", POOL_POLICY | {"RequireSymbols": True}, "Password must have symbol characters"),
        ("Abcdefghij1^", POOL_POLICY | {"RequireSymbols": True}, None),
        ("short", {}, "Password not long enough"),  # Cognito's default minimum is 8
        ("longenough", {}, None),
    ],
)
def test_a_password_is_held_to_the_pools_policy(password: str, policy: dict, problem: str | None) -> None:
    assert password_problem(password, policy) == problem


AUDIENCE_QUERY = {
    "KeyConditionExpression": "aud = :aud AND ark BETWEEN :lo AND :hi",
    "ExpressionAttributeValues": {":aud": {"S": "app#UTC#3"}, ":lo": {"S": "3200"}, ":hi": {"S": "33ff$"}},
}


@pytest.mark.parametrize(
    ("condition", "start", "inside"),
    [
        (AUDIENCE_QUERY, {"aud": {"S": "app#UTC#3"}, "ark": {"S": "3250#d1"}, "pk": {"S": "app#d1"}}, True),
        (AUDIENCE_QUERY, {"aud": {"S": "app#UTC#4"}, "ark": {"S": "3250#d1"}, "pk": {"S": "app#d1"}}, False),
        (AUDIENCE_QUERY, {"aud": {"S": "app#UTC#3"}, "ark": {"S": "3400#d1"}, "pk": {"S": "app#d1"}}, False),
        (AUDIENCE_QUERY, {"aud": {"S": "app#UTC#3"}, "ark": {"S": "31ff#d1"}, "pk": {"S": "app#d1"}}, False),
        ({"KeyConditionExpression": "#a = :aud", "ExpressionAttributeNames": {"#a": "aud"},
          "ExpressionAttributeValues": {":aud": {"S": "app#UTC"}}},
         {"aud": {"S": "app#UTC#0"}, "ark": {"S": "0000#d"}, "pk": {"S": "app#d"}}, False),
        ({"KeyConditionExpression": "n = :n", "ExpressionAttributeValues": {":n": {"N": "1.0"}}},
         {"n": {"N": "1"}}, True),
        ({"KeyConditionExpression": "pk = :p AND sk >= :s",
          "ExpressionAttributeValues": {":p": {"S": "a"}, ":s": {"S": "m"}}},
         {"pk": {"S": "a"}, "sk": {"S": "b"}}, True),  # a form it does not read: let through
    ],
)
def test_a_query_cursor_must_lie_inside_its_key_condition(
    condition: dict, start: dict, inside: bool
) -> None:
    assert start_in_condition({**condition, "ExclusiveStartKey": start}) is inside
