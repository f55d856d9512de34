"""Apps against moto with tables from template.yaml: every change to an app is refused for an unknown app
and seen at once by the container that made it."""

from __future__ import annotations

import pytest

from pushengine.auth import hash_key, key_id
from pushengine.dal.apps import AppsRepository
from pushengine.errors import NotFound

pytestmark = pytest.mark.integration


def test_changes_to_an_app_land_and_are_seen_at_once(names: dict[str, str]) -> None:
    apps = AppsRepository(names["AppsTable"])
    app, client_key, _ = apps.create("shop")
    app_id = app["app_id"]
    assert apps.get(app_id) is not None  # cached from here on
    first, key, _ = apps.add_key(app_id, "server")
    second, _, _ = apps.add_key(app_id, "client")
    keys = apps.get(app_id)["keys"]  # type: ignore[index]
    assert set(keys) == {first, second} and keys[first]["hash"] == hash_key(key)
    apps.set_provider(app_id, "fcm", {"project_id": "p"})
    apps.put_settings(app_id, {"quiet_hours": {"start": "22:00", "end": "08:00"}})
    seen = apps.get(app_id)
    assert (
        seen is not None
        and seen["providers"]["fcm"]["project_id"] == "p"
        and "updated_at" in seen["providers"]["fcm"]
    )
    assert seen["settings"] == {"quiet_hours": {"start": "22:00", "end": "08:00"}}
    assert apps.revoke_key(app_id, first) and not apps.revoke_key(app_id, first)
    assert apps.revoke_key(app_id, key_id(hash_key(client_key)))  # one of the app's first two keys
    assert set(apps.get(app_id)["keys"]) == {second}  # type: ignore[index]


@pytest.mark.parametrize(
    "change",
    [
        lambda apps: apps.add_key("app_missing", "server"),
        lambda apps: apps.set_provider("app_missing", "fcm", {}),
        lambda apps: apps.put_settings("app_missing", {}),
        lambda apps: apps.revoke_key("app_missing", "k"),
    ],
)
def test_an_unknown_app_is_not_found_and_not_created(names: dict[str, str], change) -> None:  # type: ignore[no-untyped-def]
    apps = AppsRepository(names["AppsTable"])
    with pytest.raises(NotFound):
        change(apps)
    assert AppsRepository(names["AppsTable"]).get("app_missing") is None


def test_keys_are_listed_oldest_first_without_their_hashes_and_an_older_app_s_have_no_last_four(
    names: dict[str, str],
) -> None:
    from pushengine.dal import aws

    apps = AppsRepository(names["AppsTable"])
    app, client_key, server_key = apps.create("listed")
    app_id = app["app_id"]
    issued, key, _ = apps.add_key(app_id, "analytics")
    # an app made before the last four characters were kept
    aws.table(names["AppsTable"]).update_item(Key={"app_id": app_id}, UpdateExpression="REMOVE client_key_last4")
    listed = apps.list_keys(app_id)
    assert [(k["key_id"], k["kind"], k["last4"]) for k in listed] == [
        (key_id(hash_key(client_key)), "client", None), (key_id(hash_key(server_key)), "server", server_key[-4:]),
        (issued, "analytics", key[-4:])]  # fmt: skip
    assert all(set(k) == {"key_id", "kind", "created_at", "last4"} for k in listed)
    assert apps.revoke_key(app_id, issued) and [k["kind"] for k in apps.list_keys(app_id)] == ["client", "server"]
    with pytest.raises(NotFound):
        apps.list_keys("app_0000000000000000")
