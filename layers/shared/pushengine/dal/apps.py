"""Apps (tenants), their hashed keys and where their provider credentials live."""

from __future__ import annotations

import json
import secrets as _secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pushengine.auth import hash_key, key_id, new_key
from pushengine.config import Settings
from pushengine.dal import aws
from pushengine.dal.numbers import from_dynamo, to_dynamo
from pushengine.errors import Conflict, NotFound
from pushengine.identity import new_secret as new_identity_secret
from pushengine.journeys.webhook import new_secret as new_webhook_secret

TRUST_DEFAULTS = {"device_secrets": "required", "identity_verification": "required"}  # of a new app
_APP_CACHES: dict[str, dict[str, tuple[float, dict[str, Any] | None]]] = {}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AppsRepository:
    def __init__(
        self,
        table_name: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        cache_seconds: float = Settings().apps_cache_seconds,
    ) -> None:
        self._table = aws.table(table_name)
        self._clock = clock
        # keys and credentials are re-read at most this stale (Settings.apps_cache_seconds)
        self._max_age = cache_seconds
        # one cache per table and container, shared by every repository on it: a key revoked or a
        # provider set here is seen at once by this container's edge too
        self._cache = _APP_CACHES.setdefault(table_name, {})

    def create(self, name: str) -> tuple[dict[str, Any], str, str]:
        app_id = "app_" + _secrets.token_hex(8)
        client_key, server_key = new_key("client", app_id), new_key("server", app_id)
        item = {
            "app_id": app_id,
            "name": name,
            "created_at": now_iso(),
            "client_key_hash": hash_key(client_key),
            "server_key_hash": hash_key(server_key),
            # each key's last four characters, to tell keys apart in a listing (the key is never stored)
            "client_key_last4": client_key[-4:],
            "server_key_last4": server_key[-4:],
            "providers": {},
            # new apps verify devices and users from the start (pushengine.device_trust, pushengine.identity)
            "identity_secret": new_identity_secret(),
            "webhook_secret": new_webhook_secret(),  # signs journey webhook calls (pushengine.journeys.webhook)
            "settings": dict(TRUST_DEFAULTS),
        }
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(app_id)")
        return item, client_key, server_key

    def get(self, app_id: str) -> dict[str, Any] | None:
        hit = self._cache.get(app_id)
        if hit and self._clock() - hit[0] < self._max_age:
            return hit[1]
        item = self._table.get_item(Key={"app_id": app_id}).get("Item")
        item = from_dynamo(item) if item is not None else None  # plain values, converted once per read
        self._cache[app_id] = (self._clock(), item)
        return item

    def add_key(self, app_id: str, kind: str) -> tuple[str, str, str]:
        """Issue another key of this kind (client or server); returns (key_id, key, created_at)."""
        key = new_key(kind, app_id)  # type: ignore[arg-type]
        digest, stamp = hash_key(key), now_iso()
        ident = key_id(digest)
        # the map first: DynamoDB sets a key inside a map only once the map exists
        self._update(app_id, "SET #k = if_not_exists(#k, :empty)", {"#k": "keys"}, {":empty": {}})
        entry = {"kind": kind, "hash": digest, "created_at": stamp, "last4": key[-4:]}
        self._update(app_id, "SET #k.#id = :key", {"#k": "keys", "#id": ident}, {":key": entry})
        return ident, key, stamp

    def list_keys(self, app_id: str) -> list[dict[str, Any]]:
        """The app's valid keys, oldest first: id, kind, when issued and the key's last four characters
        (None for keys issued before they were kept), never its hash."""
        app = self._fresh(app_id)
        first = [{"key_id": key_id(str(app[f"{kind}_key_hash"])), "kind": kind, "created_at": str(app["created_at"]),
                  "last4": app.get(f"{kind}_key_last4")}
                 for kind in ("client", "server") if app.get(f"{kind}_key_hash")]  # fmt: skip
        issued = [{"key_id": ident, "kind": str(entry["kind"]), "created_at": str(entry["created_at"]),
                   "last4": entry.get("last4")}
                  for ident, entry in (app.get("keys") or {}).items()]  # fmt: skip
        # by when issued; the app's first two (client, then server) before any key issued in the same ms
        ranked = [((k["created_at"], 0, str(i)), k) for i, k in enumerate(first)]
        ranked += [((k["created_at"], 1, k["key_id"]), k) for k in issued]
        return [k for _, k in sorted(ranked, key=lambda r: r[0])]

    def revoke_key(self, app_id: str, ident: str) -> bool:
        """Revoke one key by id (an issued one, or one of the app's first two); False if no such key."""
        app = self._fresh(app_id)
        first = [f"{kind}_key_hash" for kind in ("client", "server")
                 if app.get(f"{kind}_key_hash") and key_id(str(app[f"{kind}_key_hash"])) == ident]  # fmt: skip
        update: dict[str, Any]
        if first:
            update = {"UpdateExpression": "REMOVE #f", "ExpressionAttributeNames": {"#f": first[0]},
                      "ConditionExpression": "attribute_exists(#f)"}  # fmt: skip
        else:
            update = {"UpdateExpression": "REMOVE #k.#id", "ExpressionAttributeNames": {"#k": "keys", "#id": ident},
                      "ConditionExpression": "attribute_exists(#k.#id)"}  # fmt: skip
        done = aws.conditional(self._table.update_item, Key={"app_id": app_id}, **update)
        self._cache.pop(app_id, None)
        return done

    def _fresh(self, app_id: str) -> dict[str, Any]:
        """The app's item as stored now (a strongly consistent read, past the cache); NotFound without one."""
        app = self._table.get_item(Key={"app_id": app_id}, ConsistentRead=True).get("Item")
        if app is None:
            raise NotFound("app not found", field="app_id")
        return dict(app)

    def rotate_identity_secret(self, app_id: str) -> str:
        """A new identity secret: user tokens signed with the old one stop verifying (within the cache's
        30 s on other containers)."""
        return self._rotate(app_id, "identity_secret", new_identity_secret())

    def rotate_webhook_secret(self, app_id: str) -> str:
        """A new webhook signing secret: journey webhook calls are signed with it from the next one (within
        the cache's 30 s on other containers); an app made before webhooks gets its first one here."""
        return self._rotate(app_id, "webhook_secret", new_webhook_secret())

    def _rotate(self, app_id: str, field: str, secret: str) -> str:
        self._update(app_id, "SET #f = :f", {"#f": field}, {":f": secret})
        return secret

    def set_provider(self, app_id: str, provider: str, meta: dict[str, Any]) -> None:
        self._update(
            app_id, "SET providers.#p = :m", {"#p": provider}, {":m": {**meta, "updated_at": now_iso()}}
        )

    def put_settings(self, app_id: str, values: dict[str, Any]) -> None:
        """Replace the app's defaults (a map on the app item; see pushengine.app_settings)."""
        self._update(app_id, "SET #s = :s", {"#s": "settings"}, {":s": to_dynamo(values)})

    def declare_date_attribute(self, app_id: str, name: str, limit: int) -> bool:
        """Add `name` to the app's declared date attributes (`settings.date_attributes`) unless it is there:
        True when this call declared it. Conditional, so two callers racing declare it once; Conflict when
        the app already declares `limit`."""
        self._update(app_id, "SET #s = if_not_exists(#s, :empty)", {"#s": "settings"}, {":empty": {}})
        names = {"#s": "settings", "#d": "date_attributes"}
        values = {":name": [name], ":one": name, ":none": [], ":limit": limit}
        applied = aws.conditional(
            self._table.update_item, Key={"app_id": app_id},
            UpdateExpression="SET #s.#d = list_append(if_not_exists(#s.#d, :none), :name)",
            ConditionExpression="attribute_exists(app_id) AND NOT contains(#s.#d, :one) "
                                "AND (attribute_not_exists(#s.#d) OR size(#s.#d) < :limit)",
            ExpressionAttributeNames=names, ExpressionAttributeValues=values,
        )  # fmt: skip
        self._cache.pop(app_id, None)
        if applied:
            return True
        app = self._table.get_item(Key={"app_id": app_id}, ConsistentRead=True).get("Item") or {}
        if name in ((app.get("settings") or {}).get("date_attributes") or []):
            return False
        raise Conflict(f"the app already declares {limit} date attributes; remove one in its settings",
                       field="body.schedule.attribute")  # fmt: skip

    def _update(self, app_id: str, expression: str, names: dict[str, str], values: dict[str, Any]) -> None:
        """Update an existing app (NotFound when there is none) and forget this container's copy of it."""
        try:
            self._table.update_item(
                Key={"app_id": app_id},
                UpdateExpression=expression,
                ConditionExpression="attribute_exists(app_id)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if aws.is_condition_failure(exc):
                raise NotFound("app not found", field="app_id") from exc
            raise
        self._cache.pop(app_id, None)


class SecretsStore:
    """Provider credentials in Secrets Manager; read once per version per container."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._cache: dict[str, dict[str, Any]] = {}

    def put(self, name: str, value: dict[str, Any]) -> str:
        client = aws.client("secretsmanager")
        secret_id = f"{self._prefix}/{name}"
        body = json.dumps(value)
        try:
            arn: str = client.put_secret_value(SecretId=secret_id, SecretString=body)["ARN"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
            arn = client.create_secret(Name=secret_id, SecretString=body)["ARN"]
        return arn

    def get(self, arn: str, version: str = "") -> dict[str, Any]:
        key = f"{arn}@{version}"
        if key not in self._cache:
            raw = aws.client("secretsmanager").get_secret_value(SecretId=arn)["SecretString"]
            self._cache[key] = json.loads(raw)
        return self._cache[key]


def require_app(apps: AppsRepository, app_id: str) -> dict[str, Any]:
    app = apps.get(app_id)
    if app is None:
        raise NotFound("app not found", field="app_id")
    return app
