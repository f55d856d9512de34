"""The console's user pool adapter against moto's cognito-idp behind strict mode, with the template's own
pool, app client and groups: an app's users created with a temporary password, listed across pages,
moved between roles, disabled, enabled and deleted; the first sign-in's NEW_PASSWORD_REQUIRED challenge;
AWS's refusals (a name taken, a password the policy refuses, a page over 60, throttling) as domain errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from pushengine.dal import aws
from pushengine.dal.console_pool import ConsolePool
from pushengine.errors import Conflict, InvalidInput, NotFound, Unauthorized
from samlocal import LocalRuntime
from samlocal.provision import create_user_pools

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"
TEMPORARY = "Temporary-Passw0rd"
CHOSEN = "Chosen-Passw0rd-9"


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalRuntime]:
    with LocalRuntime(FIXTURE, stack_name="pool-test", strict=True, background=False) as local:
        yield local


def cognito(stack: LocalRuntime) -> Any:
    """A client as the engine has one (not the runtime's own, so faults reach it), without retries."""
    return boto3.client("cognito-idp", endpoint_url=stack.aws_url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing",
                        config=Config(retries={"mode": "standard", "total_max_attempts": 1}))  # fmt: skip


@pytest.fixture
def pool(stack: LocalRuntime, monkeypatch: pytest.MonkeyPatch) -> Iterator[ConsolePool]:
    """A fresh copy of the template's console pool; the engine's clients point at the strict endpoint."""
    ids = create_user_pools(ROOT / "template.yaml", stack.boto3_client("cognito-idp"))
    for key, value in {"AWS_ENDPOINT_URL": stack.aws_url, "AWS_REGION": "us-east-1",
                       "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    aws._client.cache_clear()
    yield ConsolePool(ids["ConsoleUserPool"], ids["ConsoleClient"])
    stack.faults.clear()
    aws._client.cache_clear()


def test_a_user_made_with_a_temporary_password_chooses_its_own_at_first_sign_in(pool: ConsolePool) -> None:
    made = pool.invite("ana", "analyst", "app_a", TEMPORARY)
    assert (made.username, made.role, made.app_id, made.status, made.enabled) == (
        "ana", "analyst", "app_a", "FORCE_CHANGE_PASSWORD", True)
    first = pool.sign_in("ana", TEMPORARY)
    assert first.tokens is None and first.challenge == "NEW_PASSWORD_REQUIRED" and first.session
    with pytest.raises(InvalidInput) as weak:
        pool.set_new_password("ana", str(first.session), "weak")
    assert weak.value.field == "new_password"
    done = pool.set_new_password("ana", str(first.session), CHOSEN)
    assert done.tokens is not None and done.tokens["IdToken"].startswith("eyJ")
    assert pool.user("app_a", "ana").status == "CONFIRMED"
    again = pool.sign_in("ana", CHOSEN)  # a normal sign-in from now on
    assert again.tokens is not None and again.challenge is None
    with pytest.raises(Unauthorized):
        pool.sign_in("ana", TEMPORARY)


def test_a_taken_name_a_password_the_policy_refuses_and_an_unknown_role_name_their_field(
    pool: ConsolePool,
) -> None:
    pool.invite("ben", "marketer", "app_a", TEMPORARY)
    with pytest.raises(Conflict) as taken:
        pool.invite("ben", "analyst", "app_b", TEMPORARY)
    assert taken.value.field == "username"
    for weak, lacks in (("Sh0rt-pass", "not long enough"), ("no-upper-case-0", "uppercase")):
        with pytest.raises(InvalidInput) as refused:  # moto takes it; AWS (and strict mode) do not
            pool.invite("cleo", "analyst", "app_a", weak)
        assert refused.value.field == "temporary_password" and lacks in refused.value.reason
    with pytest.raises(InvalidInput) as role:
        pool.invite("cleo", "owner", "app_a", TEMPORARY)
    assert role.value.field == "role"
    assert [u.username for u in pool.users("app_a")] == ["ben"]  # nothing refused was left behind


def test_an_apps_users_are_listed_across_pages_and_another_apps_are_not(pool: ConsolePool) -> None:
    for i in range(62):  # over one page of 60 in one group
        pool.invite(f"user{i:02d}", "analyst", "app_a", TEMPORARY)
    pool.invite("boss", "admin", "app_a", TEMPORARY)
    pool.invite("other", "analyst", "app_b", TEMPORARY)
    users = pool.users("app_a")
    assert [u.username for u in users] == ["boss", *(f"user{i:02d}" for i in range(62))]
    assert {u.role for u in users} == {"admin", "analyst"} and users[0].role == "admin"
    assert [u.username for u in pool.users("app_b")] == ["other"]
    with pytest.raises(NotFound):
        pool.user("app_a", "other")


def test_a_user_changes_role_is_disabled_enabled_and_deleted(pool: ConsolePool) -> None:
    pool.invite("dana", "analyst", "app_a", TEMPORARY)
    first = pool.sign_in("dana", TEMPORARY)
    pool.set_new_password("dana", str(first.session), CHOSEN)
    assert pool.change("app_a", "dana", role="marketer").role == "marketer"
    assert pool.user("app_a", "dana").role == "marketer"  # in one group only: no older, stronger one kept
    assert pool.change("app_a", "dana", role="analyst").role == "analyst"
    assert pool.change("app_a", "dana", enabled=False).enabled is False
    with pytest.raises(Unauthorized):
        pool.sign_in("dana", CHOSEN)
    assert pool.change("app_a", "dana", enabled=True).enabled is True
    assert pool.sign_in("dana", CHOSEN).tokens is not None
    for call in (lambda: pool.change("app_b", "dana", enabled=False), lambda: pool.remove("app_b", "dana")):
        with pytest.raises(NotFound):  # another app's administrator cannot reach it
            call()
    assert pool.user("app_a", "dana").enabled is True
    pool.remove("app_a", "dana")
    with pytest.raises(NotFound):
        pool.user("app_a", "dana")
    with pytest.raises(NotFound):
        pool.remove("app_a", "dana")


def test_strict_mode_refuses_a_page_over_60_and_throttling_reads_as_busy(
    stack: LocalRuntime, pool: ConsolePool
) -> None:
    idp = cognito(stack)
    for call in (idp.list_users, idp.list_users_in_group):
        extra = {"GroupName": "admin"} if call == idp.list_users_in_group else {}
        with pytest.raises(ClientError) as refused:
            call(UserPoolId=pool.pool_id, Limit=61, **extra)
        assert refused.value.response["Error"]["Code"] == "InvalidParameterException"
    assert idp.list_users(UserPoolId=pool.pool_id, Limit=60)["Users"] == []
    with pytest.raises(ClientError) as custom:  # AWS: custom attributes are not searchable
        idp.list_users(UserPoolId=pool.pool_id, Filter='custom:app_id = "app_a"')
    assert custom.value.response["Error"]["Code"] == "InvalidParameterException"
    once = Unretried(pool.pool_id, pool.client_id, idp)  # the engine's client retries throttling 8 times
    stack.faults.update(cognito_throttle=1.0)
    with pytest.raises(aws.Contended):
        once.invite("eve", "analyst", "app_a", TEMPORARY)
    with pytest.raises(aws.Contended):
        once.users("app_a")
    with pytest.raises(aws.Contended):
        once.sign_in("eve", TEMPORARY)
    stack.faults.clear()
    assert pool.users("app_a") == []  # the throttled create made nothing


class Unretried(ConsolePool):
    """The adapter over a client that tries each call once, so an injected fault is what it sees."""

    def __init__(self, pool_id: str, client_id: str, idp: Any) -> None:
        super().__init__(pool_id, client_id)
        self._once = idp

    @property
    def _idp(self) -> Any:
        return self._once
