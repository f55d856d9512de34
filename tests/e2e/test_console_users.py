"""Console users managed through the API on the local stack (strict mode): an app's administrator (a
console admin, or the app's server key) creates an analyst, who signs in with the temporary password,
chooses a new one at the NEW_PASSWORD_REQUIRED challenge, is refused a campaign creation, and cannot sign
in once disabled; bad input is a 400 naming the field, another app's user a 404, every change audited."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api, AppKeys, Standins, console_user, new_app

pytestmark = pytest.mark.e2e

TEMPORARY = "Welcome-Passw0rd"
CHOSEN = "Analyst-Own-Passw0rd"


@pytest.fixture(scope="module")
def shop(stack: Any, standins: Standins) -> AppKeys:
    return new_app(Api(stack.api_url), standins, "users", providers=False)


def sign_in(stack: Any, username: str, password: str) -> Any:
    return Api(stack.api_url).post("/v1/console/session", {"username": username, "password": password})


def test_an_admin_creates_an_analyst_who_sets_a_password_is_refused_a_create_and_is_disabled(
    stack: Any, shop: AppKeys
) -> None:
    admin = console_user(stack, shop.app_id, "admin", "users-admin")
    users = f"/v1/apps/{shop.app_id}/console-users"
    made = admin.post(users, {"username": "ana.lyst", "role": "analyst", "temporary_password": TEMPORARY})
    assert made.status_code == 201, made.text
    assert made.json() | {"created": None} == {"username": "ana.lyst", "role": "analyst", "enabled": True,
                                               "status": "FORCE_CHANGE_PASSWORD", "created": None,
                                               "temporary_password": TEMPORARY}  # fmt: skip

    first = sign_in(stack, "ana.lyst", TEMPORARY)
    assert first.status_code == 200, first.text
    assert first.json()["challenge"] == "NEW_PASSWORD_REQUIRED" and first.json()["id_token"] is None
    challenge = {"username": "ana.lyst", "session": first.json()["session"]}
    weak = Api(stack.api_url).post("/v1/console/session/new-password", challenge | {"new_password": "short"})
    assert weak.status_code == 400 and weak.json()["errors"][0]["field"] == "new_password", weak.text
    done = Api(stack.api_url).post("/v1/console/session/new-password", challenge | {"new_password": CHOSEN})
    assert done.status_code == 200, done.text
    assert (done.json()["user"], done.json()["role"], done.json()["app_id"]) == ("ana.lyst", "analyst", shop.app_id)
    analyst = Api(stack.api_url, done.json()["id_token"])
    assert analyst.get("/v1/campaigns").status_code == 200
    refused = analyst.post("/v1/campaigns", {"name": "not mine", "message": {"title": "t", "body": "b"}})
    assert refused.status_code == 403 and "analyst role may not" in refused.json()["message"], refused.text
    assert sign_in(stack, "ana.lyst", TEMPORARY).status_code == 401  # the temporary password is spent

    listed = admin.get(users).json()["users"]
    assert [(u["username"], u["role"], u["status"], u["enabled"]) for u in listed] == [
        ("ana.lyst", "analyst", "CONFIRMED", True), ("users-admin", "admin", "CONFIRMED", True)]
    disabled = admin.request("PATCH", f"{users}/ana.lyst", {"enabled": False})
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False, disabled.text
    refused_sign_in = sign_in(stack, "ana.lyst", CHOSEN)
    assert refused_sign_in.status_code == 401, refused_sign_in.text

    entries = shop.server.get("/v1/audit?limit=10").json()["entries"]
    by_admin = {"kind": "console", "user": "users-admin", "role": "admin"}
    ana = {"kind": "console", "user": "ana.lyst", "role": "analyst"}
    assert [(e["actor"], e["action"], e["target"], e["status"]) for e in entries[:3]] == [
        (by_admin, "PATCH /v1/apps/{app_id}/console-users/{username}", f"app_id:{shop.app_id},username:ana.lyst", 200),
        (ana, "POST /v1/campaigns", "", 403),  # the refusal is recorded too
        (by_admin, "POST /v1/apps/{app_id}/console-users", f"app_id:{shop.app_id},username:ana.lyst", 201),
    ]
    assert TEMPORARY not in str(entries) and CHOSEN not in str(entries)


def test_the_server_key_manages_users_bad_input_names_its_field_and_other_apps_users_are_404(
    stack: Any, standins: Standins, shop: AppKeys
) -> None:
    users = f"/v1/apps/{shop.app_id}/console-users"
    made = shop.server.post(users, {"username": "mark", "role": "marketer"})  # a temporary password is made
    assert made.status_code == 201, made.text
    first = sign_in(stack, "mark", made.json()["temporary_password"])
    assert first.json()["challenge"] == "NEW_PASSWORD_REQUIRED", first.text

    for body, field in (({"username": "has space", "role": "analyst"}, "body.username"),
                        ({"username": "x", "role": "owner"}, "body.role"),
                        ({"username": "weak", "role": "analyst", "temporary_password": "weakpassword"},
                         "temporary_password"),
                        ({"username": "mark", "role": "analyst"}, "username")):  # fmt: skip
        answer = shop.server.post(users, body)
        assert answer.status_code == (409 if body["username"] == "mark" else 400), answer.text
        assert answer.json()["errors"][0]["field"] == field, answer.text
    changed = shop.server.request("PATCH", f"{users}/mark", {"role": "analyst"})
    assert changed.status_code == 200 and changed.json()["role"] == "analyst", changed.text
    bad_role = shop.server.request("PATCH", f"{users}/mark", {"role": "owner"})
    assert bad_role.status_code == 400 and bad_role.json()["errors"][0]["field"] == "body.role"

    other = new_app(Api(stack.api_url), standins, "others", providers=False)
    theirs = f"/v1/apps/{other.app_id}/console-users"
    assert other.server.request("PATCH", f"{theirs}/mark", {"enabled": False}).status_code == 404
    assert other.server.delete(f"{theirs}/mark").status_code == 404
    assert other.server.get(theirs).json()["users"] == []
    assert other.server.get(users).status_code == 403  # not its app
    marketer = console_user(stack, shop.app_id, "marketer", "users-marketer")
    assert marketer.get(users).status_code == 403  # managing users is an operator's right

    assert shop.server.delete(f"{users}/mark").status_code == 204
    assert shop.server.delete(f"{users}/mark").status_code == 404
    assert sign_in(stack, "mark", made.json()["temporary_password"]).status_code == 401
