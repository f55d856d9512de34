"""Provider tokens shared by every sender container: one APNs JWT per signing key, in the delivery-state table.

Apple answers 429 TooManyProviderTokenUpdates to a key whose token changes more often than once every 20
minutes, and a wave starts hundreds of cold containers within seconds: each signing its own token is
hundreds of updates. So a container takes the key's stored token while it is younger than its ttl; when
it is due (or missing), the container signs one and stores it with a conditional write that holds only if
the item still holds the token it read, so exactly one writer's token is stored and used: a writer whose
write loses discards its own (never sent) and takes the winner's. A stored token younger than 20 minutes is
never replaced unless APNs refused that very token (`stale`: ExpiredProviderToken, a clock apart), so the
key's token changes at most once per 20 minutes whatever the number of containers.

The item (`pk` `ptoken#<scope>`) holds the token, its `iat` and an `expires_at` past its last use for the
table's TTL. The token is a bearer credential of at most an hour, kept in the stack's own SSE-encrypted
table that only its functions read; the signing key itself stays in Secrets Manager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pushengine.dal import aws

MIN_AGE = 20 * 60.0  # Apple: refresh no more than once every 20 minutes
KEEP_SECONDS = 2 * 3600  # the item outlives any token it may hold (APNs refuses tokens over 1 h old)


class ProviderTokens:
    def __init__(self, table_name: str, *, min_age: float = MIN_AGE) -> None:
        self._table = aws.table(table_name)
        self._min_age = min_age

    def shared(
        self, scope: str, now: float, sign: Callable[[int], str], *, ttl: float, stale: str | None = None
    ) -> tuple[str, int]:
        """The token every container uses for `scope` (a signing key) and its iat: the stored one while
        younger than `ttl`, else one signed here by `sign(iat)` and stored if no other writer stored one
        first. `stale`: a token the provider refused, replaced even if younger than 20 minutes."""
        for _ in range(3):  # a lost race reads the winner; a third loss in a row would be a bug
            item = self._read(scope)
            if item is not None:
                token, iat = str(item["token"]), int(item["iat"])
                if reusable(token, iat, now, ttl=ttl, min_age=self._min_age, stale=stale):
                    return token, iat
            iat = int(now)
            fresh = sign(iat)
            if self._store(scope, fresh, iat, None if item is None else str(item["token"])):
                return fresh, iat
        raise RuntimeError(f"provider token for {scope}: three writers raced in a row")

    def _read(self, scope: str) -> dict[str, Any] | None:
        got = self._table.get_item(Key={"pk": _pk(scope)}, ConsistentRead=True)
        item: dict[str, Any] | None = got.get("Item")
        return item

    def _store(self, scope: str, token: str, iat: int, replaces: str | None) -> bool:
        guard: dict[str, Any] = (
            {"ConditionExpression": "attribute_not_exists(pk)"}
            if replaces is None
            else {"ConditionExpression": "#t = :old", "ExpressionAttributeNames": {"#t": "token"},
                  "ExpressionAttributeValues": {":old": replaces}}
        )  # fmt: skip
        item = {"pk": _pk(scope), "token": token, "iat": iat, "expires_at": iat + KEEP_SECONDS}
        return aws.conditional(self._table.put_item, Item=item, **guard)


def reusable(token: str, iat: int, now: float, *, ttl: float, min_age: float, stale: str | None) -> bool:
    """Whether a stored token is the one to use: younger than its ttl, or than Apple's 20 minutes, and not
    the one APNs just refused."""
    age = now - iat
    return token != stale and (age < ttl or age < min_age)


def _pk(scope: str) -> str:
    return f"ptoken#{scope}"
