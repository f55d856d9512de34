"""Pure logic of the day-one API: import lines, paused holds, key hashes, direct-send bodies."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pushengine.auth import Unauthorized, authenticate, hash_key, key_hashes, key_id
from pushengine.delivery.lifecycle import hold_delay
from pushengine.imports import LineProblem, parse_line
from pushengine.messages import MessageIn

pytestmark = pytest.mark.unit
TOKEN = "ab" * 32


@pytest.mark.parametrize(
    ("fmt", "text", "header", "device_id", "fields"),
    [
        ("jsonl", json.dumps({"device_id": "d1", "platform": "ios", "token": TOKEN}), None, "d1",
         {"platform": "ios", "token": TOKEN, "timezone": "UTC", "locale": "en"}),
        ("csv", f"d2,ios,{TOKEN},pro,", ["device_id", "platform", "token", "tags.plan", "attributes.first_name"],
         "d2", {"platform": "ios", "token": TOKEN, "tags": {"plan": "pro"}}),
    ],
)  # fmt: skip
def test_a_line_becomes_a_device(
    fmt: str, text: str, header: list[str] | None, device_id: str, fields: dict
) -> None:
    got_id, got = parse_line(fmt, text, header)
    assert got_id == device_id
    assert {k: got[k] for k in fields} == fields


CSV_TYPED = ["device_id", "platform", "token", "tags.visits", "tags.vip", "tags.zip", "attributes.score",
             "attributes.code", "attributes.birthday", "attributes.big", "timezone"]


def test_csv_numbers_and_booleans_are_stored_as_a_json_line_stores_them() -> None:
    """A CSV `tags.visits` of 12 must be the number 12, as in JSON, or a `gt` filter never matches it."""
    cells = f"d3,ios,{TOKEN},12,true,02134,-3.5e1,+1,1990-05-17,{'9' * 65},Europe/Paris"
    _, csv_fields = parse_line("csv", cells, CSV_TYPED)
    line = {"device_id": "d3", "platform": "ios", "token": TOKEN, "timezone": "Europe/Paris",
            "tags": {"visits": 12, "vip": True, "zip": "02134"},
            "attributes": {"score": -35.0, "code": "+1", "birthday": "1990-05-17", "big": "9" * 65}}  # fmt: skip
    _, json_fields = parse_line("jsonl", json.dumps(line), None)
    assert csv_fields == json_fields
    assert csv_fields["tags"] == {"visits": 12, "vip": True, "zip": "02134"}
    assert isinstance(csv_fields["tags"]["visits"], int) and csv_fields["attributes"]["score"] == -35.0


@pytest.mark.parametrize(
    ("fmt", "text", "header", "field"),
    [
        ("jsonl", "{oops", None, "line"),
        ("jsonl", "[1, 2]", None, "line"),
        ("jsonl", json.dumps({"platform": "ios", "token": TOKEN}), None, "device_id"),
        ("jsonl", json.dumps({"device_id": "d", "platform": "ios"}), None, "token"),
        ("jsonl", json.dumps({"device_id": "d", "platform": "ios", "token": TOKEN, "timezone": "Mars/X"}), None,
         "timezone"),
        ("csv", "d,ios", ["device_id", "platform", "token"], "line"),
    ],
)  # fmt: skip
def test_a_bad_line_names_its_field(fmt: str, text: str, header: list[str] | None, field: str) -> None:
    with pytest.raises(LineProblem) as caught:
        parse_line(fmt, text, header)
    assert caught.value.field == field and caught.value.reason


def test_paused_work_waits_longer_each_time_but_never_past_the_cap() -> None:
    assert [hold_delay(n) for n in range(8)] == [5, 10, 20, 40, 80, 160, 300, 300]


def test_every_issued_key_of_a_kind_is_valid_and_revoked_ones_are_not() -> None:
    first, second = "pes.app_1.first-secret", "pes.app_1.second-secret"
    app = {"server_key_hash": hash_key(first), "client_key_hash": hash_key("pec.app_1.c"),
           "keys": {key_id(hash_key(second)): {"kind": "server", "hash": hash_key(second)}}}  # fmt: skip
    assert key_hashes(app, "server") == [hash_key(first), hash_key(second)]
    for key in (first, second):
        assert authenticate(key, admin_key_hash="", load_app=lambda _: app).kind == "server"
    del app["keys"]
    with pytest.raises(Unauthorized):
        authenticate(second, admin_key_hash="", load_app=lambda _: app)
    assert key_id(hash_key(first)) != key_id(hash_key(second)) and key_id(hash_key(first)).startswith("key_")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"to": {}, "message": {"title": "t", "body": "b"}}, "at least one"),
        ({"to": {"device_ids": ["d"] * 600, "user_ids": ["u"] * 401}, "message": {"title": "t", "body": "b"}},
         "at most 1000"),
        ({"to": {"device_ids": ["d"]}}, "exactly one of message and template_id"),
        ({"to": {"device_ids": ["d"]}, "template_id": "t", "message": {"title": "t", "body": "b"}}, "exactly one"),
    ],
)  # fmt: skip
def test_a_direct_send_names_what_is_wrong(body: dict, reason: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MessageIn.model_validate(body)
    assert reason in str(caught.value)


def test_an_erasure_leaves_tombstones_in_a_dead_lettered_batch() -> None:
    from pushengine.delivery.erasure import erased_from
    from pushengine.erasure import without_erased

    u1 = {"id": "u1-web", "p": "web", "v": "a", "s": {"endpoint": "https://push.example/x"},
          "c": {"attributes": {"first_name": "Zeb"}}}  # fmt: skip
    other = {"id": "o1", "p": "android", "t": "tok-o1", "c": {}}
    batch = {"app_id": "app_1", "campaign_id": "c", "batch_id": "b", "devices": [u1, other]}
    assert without_erased(batch, "app_2", {"u1-web"}) is None  # another app's batch
    assert without_erased(batch, "app_1", {"someone-else"}) is None  # nothing of theirs: left as it is
    rewritten = without_erased(batch, "app_1", {"u1-web"})
    assert rewritten is not None
    # positions kept (the checkpoint counts by index); nothing that addresses or describes u1 stays
    assert rewritten["devices"] == [{"id": "u1-web", "p": "web", "v": "a", "erased": True}, other]
    assert "Zeb" not in json.dumps(rewritten) and "push.example" not in json.dumps(rewritten)
    assert without_erased(rewritten, "app_1", {"u1-web"}) is None  # a second pass changes nothing
    # redriven after the erasure mark expired (or with no marks at all): the tombstone is still skipped
    assert erased_from(None, None, rewritten) == {"u1-web"}  # type: ignore[arg-type]
    assert erased_from(None, None, batch) == set()  # type: ignore[arg-type]


def test_an_imported_item_is_written_as_boto3_would_write_it() -> None:
    from decimal import Decimal

    from boto3.dynamodb.types import TypeSerializer

    from pushengine.dal.numbers import attribute, to_dynamo

    item = {"pk": "app#d1", "platform": "web", "opted_in": False, "version": 3, "score": Decimal("2.5"),
            "location": {"lat": 48.8566, "lon": -0.1}, "tags": {"plan": "pro", "seats": 12, "vip": True},
            "attributes": {"nickname": None}, "events": [{"n": "buy", "v": 9.99}], "empty": {}}  # fmt: skip
    boto3_wire = {k: TypeSerializer().serialize(v) for k, v in to_dynamo(item).items()}
    assert {k: attribute(v) for k, v in item.items()} == boto3_wire
    with pytest.raises(TypeError):
        attribute(object())


def test_an_imported_declared_date_attribute_must_be_a_date() -> None:
    header = ["device_id", "platform", "token", "attributes.birthday"]
    _, fields = parse_line("csv", f"d4,ios,{TOKEN},1990-05-17", header, ["birthday"])
    assert fields["attributes"] == {"birthday": "1990-05-17"}
    with pytest.raises(LineProblem) as caught:
        parse_line("csv", f"d5,ios,{TOKEN},soon", header, ["birthday"])
    assert caught.value.field == "attributes.birthday" and "YYYY-MM-DD" in caught.value.reason
