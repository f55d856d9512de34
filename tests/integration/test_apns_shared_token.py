"""One APNs provider token per signing key for every sender container: the stand-in refuses a key's token
that changes more often than Apple allows, and containers sharing the delivery-state table's token (moto,
the template's table) present one token between them, renewed once when it is due."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from local.standins.apns import ApnsStandIn
from pushengine.dal.provider_tokens import ProviderTokens
from pushengine.providers.apns import ApnsProvider
from pushengine.providers.base import Outcome
from tests.integration.test_apns_provider import BUNDLE, KEY, KID, TEAM, credentials, note, public_pem

pytestmark = pytest.mark.integration

CONTAINERS = 50


class Clock:
    """Seconds since the epoch, moved by the test: the senders' and APNs' clock alike."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def apns(clock: Clock) -> Iterator[ApnsStandIn]:
    with ApnsStandIn(clock=clock) as standin:
        standin.register_key(TEAM, KID, public_pem(KEY))
        standin.allow_topic(BUNDLE)
        yield standin


def containers(apns: ApnsStandIn, clock: Clock, table: str | None) -> list[ApnsProvider]:
    """Cold sender containers of one key: each its own provider and, with `table`, its own store client."""
    return [
        ApnsProvider(
            credentials(),
            endpoint=apns.base_url,
            clock=clock,
            tokens=ProviderTokens(table) if table else None,
        )
        for _ in range(CONTAINERS)
    ]


def wave(apns: ApnsStandIn, providers: list[ApnsProvider], per_container: int = 4) -> list[Outcome]:
    """Every container starts sending at once, each several sends in flight."""

    async def one(provider: ApnsProvider) -> list[Outcome]:
        results = await asyncio.gather(*(provider.send(note(apns.new_token())) for _ in range(per_container)))
        return [r.outcome for r in results]

    async def run() -> list[Outcome]:
        try:
            outcomes = await asyncio.gather(*(one(p) for p in providers))
        finally:
            await asyncio.gather(*(p.aclose() for p in providers))
        return [o for batch in outcomes for o in batch]

    return asyncio.run(run())


def test_a_keys_token_changing_sooner_than_twenty_minutes_is_refused(apns: ApnsStandIn, clock: Clock) -> None:
    first = ApnsProvider(credentials(), endpoint=apns.base_url, clock=clock)
    second = ApnsProvider(credentials(), endpoint=apns.base_url, clock=clock)
    [ok] = wave(apns, [first], per_container=1)
    [refused] = wave(apns, [second], per_container=1)
    assert (ok, refused) == (Outcome.SENT, Outcome.RETRY)
    assert [r.reason for r in apns.received] == ["", "TooManyProviderTokenUpdates"]
    assert apns.token_update_refusals == 1 and apns.accepted_tokens(KID) == 1
    clock.now += 20 * 60  # the interval passed: the other token may become the key's current one
    assert wave(apns, [ApnsProvider(credentials(), endpoint=apns.base_url, clock=clock)], 1) == [Outcome.SENT]
    assert apns.accepted_tokens(KID) == 2


def test_fifty_containers_started_together_present_one_token_per_key(
    names: dict[str, str], apns: ApnsStandIn, clock: Clock
) -> None:
    providers = containers(apns, clock, names["DeliveryStateTable"])
    outcomes = wave(apns, providers)
    assert outcomes == [Outcome.SENT] * CONTAINERS * 4
    assert apns.jwt_count == 1 and apns.accepted_tokens(KID) == 1 and apns.token_update_refusals == 0
    signed = sum(p.tokens_issued for p in providers)
    assert 1 <= signed <= 3  # losers of the first write race discard theirs unsent
    # 46 minutes on (past the 45-minute ttl): the same containers renew the key's token once between them
    clock.now += 46 * 60
    assert wave(apns, providers) == [Outcome.SENT] * CONTAINERS * 4
    assert apns.jwt_count == 2 and apns.accepted_tokens(KID) == 2 and apns.token_update_refusals == 0
    # a container that starts later takes the stored token rather than signing
    late = containers(apns, clock, names["DeliveryStateTable"])[:1]
    assert wave(apns, late) == [Outcome.SENT] * 4
    assert late[0].tokens_issued == 0 and apns.jwt_count == 2


def test_containers_each_signing_their_own_token_are_refused(apns: ApnsStandIn, clock: Clock) -> None:
    """What a wave of cold containers met before the shared token: all but one refused."""
    outcomes = wave(apns, containers(apns, clock, None))
    assert outcomes.count(Outcome.SENT) == 4 and apns.jwt_count == CONTAINERS
    assert apns.token_update_refusals == (CONTAINERS - 1) * 4


def test_a_refused_stored_token_is_renewed_once_and_a_young_one_is_not_replaced(
    names: dict[str, str], apns: ApnsStandIn, clock: Clock
) -> None:
    store = ProviderTokens(names["DeliveryStateTable"])
    signed: list[int] = []

    def sign(iat: int) -> str:
        signed.append(iat)
        return f"token-{len(signed)}"

    now = clock.now
    assert store.shared("apns#k", now, sign, ttl=45 * 60) == ("token-1", int(now))
    # a ttl under Apple's 20 minutes is not obeyed: the token stays until it is 20 minutes old
    assert store.shared("apns#k", now + 10 * 60, sign, ttl=60) == ("token-1", int(now))
    assert store.shared("apns#k", now + 21 * 60, sign, ttl=60) == ("token-2", int(now + 21 * 60))
    # APNs refused token-2 (a clock apart): the first caller replaces it, the next finds the replacement
    assert store.shared("apns#k", now + 22 * 60, sign, ttl=45 * 60, stale="token-2")[0] == "token-3"
    assert store.shared("apns#k", now + 22 * 60, sign, ttl=45 * 60, stale="token-2")[0] == "token-3"
    assert len(signed) == 3
