import pytest

from pushengine.auth import Principal, authenticate, bearer, hash_key, new_key, require
from pushengine.errors import Forbidden, Unauthorized

pytestmark = pytest.mark.unit

ADMIN = "admin-secret-key"


def apps_with(*keys: str) -> dict[str, dict[str, str]]:
    apps: dict[str, dict[str, str]] = {}
    for key in keys:
        prefix, app_id, _ = key.split(".")
        kind = {"pes": "server", "pec": "client"}[prefix]
        apps.setdefault(app_id, {})[f"{kind}_key_hash"] = hash_key(key)
    return apps


def test_keys_are_stored_hashed_and_resolve_to_their_app_and_kind() -> None:
    server, client, other = new_key("server", "app_a"), new_key("client", "app_a"), new_key("server", "app_b")
    apps = apps_with(server, client, other)
    auth = dict(admin_key_hash=hash_key(ADMIN), load_app=apps.get)
    assert authenticate(server, **auth) == Principal("server", "app_a")
    assert authenticate(client, **auth) == Principal("client", "app_a")
    assert authenticate(other, **auth) == Principal("server", "app_b")
    assert authenticate(ADMIN, **auth) == Principal("admin")
    assert all(server not in v for app in apps.values() for v in app.values())


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "nonsense",
        "pes.app_a.wrong",
        "pec.app_a.wrong",
        "pes.app_zz.whatever",
        "xx.app_a.s",
        "admin",
    ],
)
def test_wrong_or_missing_keys_are_unauthorized(key: str | None) -> None:
    server = new_key("server", "app_a")
    with pytest.raises(Unauthorized):
        authenticate(key, admin_key_hash=hash_key(ADMIN), load_app=apps_with(server).get)


def test_a_client_key_cannot_pass_as_the_server_key_of_its_app() -> None:
    client = new_key("client", "app_a")
    forged = "pes." + client.split(".", 1)[1]  # same secret, other kind
    with pytest.raises(Unauthorized):
        authenticate(forged, admin_key_hash="", load_app=apps_with(client).get)


def test_require_checks_kind_and_app() -> None:
    assert require(Principal("server", "a"), "server", app_id="a")
    with pytest.raises(Forbidden):
        require(Principal("client", "a"), "server")
    with pytest.raises(Forbidden):
        require(Principal("server", "b"), "server", app_id="a")


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"authorization": "Bearer abc"}, "abc"),
        ({"Authorization": "bearer  xyz "}, "xyz"),
        ({"authorization": "Basic abc"}, None),
        ({}, None),
        (None, None),
        ({"authorization": "Bearer "}, None),
    ],
)
def test_bearer(headers: dict[str, str] | None, expected: str | None) -> None:
    assert bearer(headers) == expected
