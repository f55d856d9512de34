"""The audit log: who changed what, recorded once at the HTTP edge for every request that changes
something, whatever route it is (`http.api_handler`).

An entry is `{at, actor, action, target, status}`: `actor` the console user (name and role) or the key
(kind and id, never the key), `action` the route key, `target` what it acted on (the path's ids, or the
id of what it created), `status` the answer. Person ids (`user_id`, `device_id`) are pseudonymised when
written (a keyed hash per app), so the log keeps who did what without keeping whom it was about, and an
erasure has nothing to remove from it. Kept `RETENTION_DAYS` (DynamoDB TTL).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pushengine.auth import Principal

RETENTION_DAYS = 400
PERSON_PARAMS = ("user_id", "device_id")  # pseudonymised in targets
# ids a created thing answers with, in the order they name the target
CREATED_IDS = ("campaign_id", "segment_id", "template_id", "key_id", "message_id", "import_id",
               "export_id", "app_id", "username")  # fmt: skip
_UNCHANGING = frozenset({"GET", "HEAD", "OPTIONS"})


def changes(route_key: str) -> bool:
    """A request that may change something: any method but GET, HEAD and OPTIONS."""
    return route_key.split(" ", 1)[0] not in _UNCHANGING


def pseudonym(app_id: str, value: str) -> str:
    return hashlib.sha256(f"{app_id}\x00{value}".encode()).hexdigest()[:24]


def target(app_id: str, path: Mapping[str, Any], answer: Any) -> str:
    """`name:value` pairs of the path's ids (person ids pseudonymised), then of the id of what it created
    (a console user made under `/v1/apps/{app_id}/console-users`: `app_id:…,username:…`)."""
    path = path or {}
    parts = [
        f"{name}:{pseudonym(app_id, str(value)) if name in PERSON_PARAMS else value}"
        for name, value in sorted(path.items())
    ]
    if isinstance(answer, Mapping):
        made = [f"{name}:{answer[name]}" for name in CREATED_IDS
                if name not in path and isinstance(answer.get(name), str)]  # fmt: skip
        parts += made[:1]
    return ",".join(parts)


def entry(
    principal: Principal, route_key: str, path: Mapping[str, Any], status: int, body: str | None, at: datetime
) -> dict[str, Any]:
    """One audit entry for this request and its answer."""
    answer: Any = None
    if body and 200 <= status < 300:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
    return {
        "at": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "actor": principal.actor(),
        "action": route_key,
        "target": target(str(principal.app_id or ""), path, answer),
        "status": status,
    }
