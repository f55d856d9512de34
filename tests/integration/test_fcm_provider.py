"""FcmProvider against the local FCM/OAuth stand-in: real HTTP, real RS256 grants, real error answers."""

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from local.standins.fcm import FcmStandIn
from pushengine.providers.base import Notification, Outcome, SendResult
from pushengine.providers.fcm import FcmProvider, parse_service_account

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running() -> Iterator[FcmStandIn]:
    with FcmStandIn() as fcm:
        yield fcm


@pytest.fixture
def fcm(running: FcmStandIn) -> FcmStandIn:
    running.reset()
    return running


def notification(token: str, **changes: Any) -> Notification:
    payload = {"notification": {"title": "Sale", "body": "50% off"}, "data": {"campaign_id": "c1", "n": "3"}}
    return Notification(**{"payload": payload, "collapse_id": "c1", "token": token, **changes})


def provider_for(fcm: FcmStandIn, sa: dict[str, Any] | None = None, **kwargs: Any) -> FcmProvider:
    account = parse_service_account(sa or fcm.new_service_account())
    return FcmProvider(account, **{"endpoint": fcm.base_url, **kwargs})


async def send_all(provider: FcmProvider, items: list[Notification], limit: int = 200) -> list[SendResult]:
    gate = asyncio.Semaphore(limit)

    async def one(n: Notification) -> SendResult:
        async with gate:
            return await provider.send(n)

    try:
        return await asyncio.gather(*(one(n) for n in items))
    finally:
        await provider.aclose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_send_arrives_with_the_right_message(fcm: FcmStandIn) -> None:
    token = fcm.new_token()
    provider = provider_for(fcm)
    [result] = asyncio.run(send_all(provider, [notification(token, ttl_seconds=3600, priority="normal")]))
    assert result == SendResult(Outcome.SENT, 200)
    [got] = fcm.received_for(token)
    assert got.project == "demo-project"
    assert got.message == {
        "notification": {"title": "Sale", "body": "50% off"},
        "data": {"campaign_id": "c1", "n": "3"},
        "android": {"collapse_key": "c1", "ttl": "3600s", "priority": "NORMAL"},
        "token": token,
    }
    assert (provider.grants_made, provider.requests, fcm.grants) == (1, 1, 1)
    assert "ya29" not in repr(provider) and "PRIVATE" not in repr(provider)


@pytest.mark.parametrize(
    ("error_code", "retry_after", "expected"),
    [
        ("UNREGISTERED", None, SendResult(Outcome.PRUNED, 404, "UNREGISTERED")),
        ("INVALID_ARGUMENT", None, SendResult(Outcome.FAILED, 400, "INVALID_ARGUMENT")),
        ("SENDER_ID_MISMATCH", None, SendResult(Outcome.PRUNED, 403, "SENDER_ID_MISMATCH")),
        ("THIRD_PARTY_AUTH_ERROR", None, SendResult(Outcome.FAILED, 401, "THIRD_PARTY_AUTH_ERROR")),
        ("QUOTA_EXCEEDED", 10, SendResult(Outcome.RETRY, 429, "QUOTA_EXCEEDED", 60.0)),
        ("QUOTA_EXCEEDED", 90, SendResult(Outcome.RETRY, 429, "QUOTA_EXCEEDED", 90.0)),
        ("QUOTA_EXCEEDED", None, SendResult(Outcome.RETRY, 429, "QUOTA_EXCEEDED", 60.0)),
        ("UNAVAILABLE", 7, SendResult(Outcome.RETRY, 503, "UNAVAILABLE", 7.0)),
        ("UNAVAILABLE", None, SendResult(Outcome.RETRY, 503, "UNAVAILABLE")),
        ("INTERNAL", 3, SendResult(Outcome.RETRY, 500, "INTERNAL", 3.0)),
    ],
)
def test_error_codes_map_to_outcomes(
    fcm: FcmStandIn, error_code: str, retry_after: int | None, expected: SendResult
) -> None:
    token = fcm.new_token()
    fcm.fail(token, error_code, retry_after=retry_after)
    provider = provider_for(fcm)
    [result] = asyncio.run(send_all(provider, [notification(token)]))
    assert result == expected
    assert fcm.received_for(token) == []
    # only an expired access token earns a second try; THIRD_PARTY_AUTH_ERROR is about APNs/web credentials
    assert (provider.grants_made, provider.requests) == (1, 1)


def test_real_rejections_without_injection(fcm: FcmStandIn) -> None:
    other_project = fcm.new_token(project_id="someone-else")
    unknown = "u" * 40 + ":APA91b" + "x" * 120
    results = asyncio.run(
        send_all(
            provider_for(fcm),
            [
                notification(unknown),
                notification("too-short"),
                notification(other_project),
                notification(fcm.new_token(), payload={"data": {"blob": "x" * 5000}}),
            ],
        )
    )
    assert [(r.outcome, r.status, r.reason) for r in results] == [
        (Outcome.PRUNED, 404, "UNREGISTERED"),
        (Outcome.PRUNED, 400, "INVALID_ARGUMENT"),  # "not a valid FCM registration token"
        (Outcome.PRUNED, 403, "SENDER_ID_MISMATCH"),  # another project's token
        (Outcome.FAILED, 400, "INVALID_ARGUMENT"),  # the payload is too big: the device is not at fault
    ]
    assert fcm.received == []


@pytest.mark.parametrize(
    ("field", "expected"),
    [("message.token", Outcome.PRUNED), ("message.data", Outcome.FAILED), (None, Outcome.FAILED)],
)
def test_an_invalid_argument_prunes_only_when_it_blames_the_token(
    fcm: FcmStandIn, field: str | None, expected: Outcome
) -> None:
    token = fcm.new_token()
    fcm.fail(token, "INVALID_ARGUMENT", field=field)
    [result] = asyncio.run(send_all(provider_for(fcm), [notification(token)]))
    assert (result.outcome, result.status, result.reason) == (expected, 400, "INVALID_ARGUMENT")


def test_transient_failure_clears(fcm: FcmStandIn) -> None:
    token = fcm.new_token()
    fcm.fail(token, "UNAVAILABLE", times=1)
    provider = provider_for(fcm)
    first, second = asyncio.run(send_all(provider, [notification(token), notification(token)], limit=1))
    assert (first.outcome, second.outcome) == (Outcome.RETRY, Outcome.SENT)
    assert len(fcm.received_for(token)) == 1


def test_expired_access_token_makes_one_new_grant_and_succeeds(fcm: FcmStandIn) -> None:
    token = fcm.new_token()
    provider = provider_for(fcm)

    async def scenario() -> tuple[SendResult, SendResult]:
        try:
            first = await provider.send(notification(token))
            fcm.expire_access_tokens()
            return first, await provider.send(notification(token))
        finally:
            await provider.aclose()

    first, second = asyncio.run(scenario())
    assert first.outcome == second.outcome == Outcome.SENT
    assert (provider.grants_made, provider.requests, fcm.grants) == (2, 3, 2)
    assert len(fcm.received_for(token)) == 2


def test_concurrent_401s_share_one_new_grant(fcm: FcmStandIn) -> None:
    tokens = [fcm.new_token() for _ in range(100)]
    provider = provider_for(fcm)

    async def scenario() -> list[SendResult]:
        await provider.send(notification(tokens[0]))
        fcm.expire_access_tokens()
        return await send_all(provider, [notification(t) for t in tokens])

    results = asyncio.run(scenario())
    assert {r.outcome for r in results} == {Outcome.SENT}
    assert (provider.grants_made, fcm.grants) == (2, 2)


def test_5000_concurrent_sends_make_exactly_one_grant(fcm: FcmStandIn) -> None:
    tokens = [fcm.new_token() for _ in range(5000)]
    provider = provider_for(fcm)
    results = asyncio.run(send_all(provider, [notification(t) for t in tokens], limit=200))
    assert [r.outcome for r in results].count(Outcome.SENT) == 5000
    assert (provider.grants_made, fcm.grants, provider.requests) == (1, 1, 5000)
    assert {r.token for r in fcm.received} == set(tokens)


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_access_token_is_reused_until_five_minutes_before_expiry() -> None:
    clock = Clock()
    with FcmStandIn(clock=clock) as fcm:
        token = fcm.new_token()
        provider = provider_for(fcm, clock=clock)

        async def send_at(offsets: list[float]) -> list[int]:
            grants = []
            try:
                for offset in offsets:
                    clock.now += offset
                    assert (await provider.send(notification(token))).outcome == Outcome.SENT
                    grants.append(provider.grants_made)
            finally:
                await provider.aclose()
            return grants

        # expires_in 3599: cached until 3299 s after the grant, then replaced
        assert asyncio.run(send_at([0, 1000, 2298, 2])) == [1, 1, 1, 2]
        assert fcm.grants == 2


def test_wrong_key_is_refused_and_waiters_share_the_failure(fcm: FcmStandIn) -> None:
    sa = fcm.new_service_account()
    impostor = {**sa, "private_key": fcm.new_service_account()["private_key"]}  # same iss and kid
    provider = provider_for(fcm, impostor)
    results = asyncio.run(send_all(provider, [notification(fcm.new_token()) for _ in range(50)]))
    assert set(results) == {SendResult(Outcome.FAILED, 400, "oauth: invalid_grant")}
    assert (provider.grants_made, provider.requests, fcm.grants) == (1, 0, 0)
    assert fcm.received == []


def test_network_errors_are_retried_with_status_0(fcm: FcmStandIn) -> None:
    token = fcm.new_token()
    dead = f"http://127.0.0.1:{free_port()}"
    going_down = FcmStandIn()  # token_uri must share the endpoint's origin: take the whole service down
    with going_down:
        token_down = going_down.new_token()
        provider = provider_for(going_down)

        async def send_before_and_after_it_stops() -> tuple[SendResult, SendResult]:
            try:
                first = await provider.send(notification(token_down))
                going_down.stop()
                return first, await provider.send(notification(token_down))
            finally:
                await provider.aclose()

        sent, send_down = asyncio.run(send_before_and_after_it_stops())
    assert sent.outcome == Outcome.SENT
    assert (send_down.outcome, send_down.status, send_down.reason) == (Outcome.RETRY, 0, "ConnectError")
    no_oauth = {**fcm.new_service_account(), "token_uri": f"{dead}/token"}
    [grant_down] = asyncio.run(send_all(provider_for(fcm, no_oauth, endpoint=dead), [notification(token)]))
    assert grant_down == SendResult(Outcome.RETRY, 0, "oauth: ConnectError")


@pytest.mark.parametrize(
    "token_uri", ["https://169.254.169.254/token", "https://10.0.0.1/token", "http://127.0.0.1:9/token"]
)
def test_a_stored_token_uri_off_the_allowed_origins_is_never_called(fcm: FcmStandIn, token_uri: str) -> None:
    """Checked again at send time: a credential saved before the policy (or written around the API)."""
    provider = provider_for(fcm, {**fcm.new_service_account(), "token_uri": token_uri})
    [result] = asyncio.run(send_all(provider, [notification(fcm.new_token())]))
    assert result.outcome == Outcome.FAILED and result.reason.startswith("oauth: token_uri: "), result
    assert (provider.grants_made, provider.requests, fcm.grants) == (0, 0, 0)
