"""moto's DynamoDB writes are not atomic across threads, and DynamoDB's are.

A moto transaction snapshots each table it touches and, when one of its conditions fails, puts the
whole snapshot back, wiping whatever other threads wrote in between; its snapshot (a deepcopy) can
also die on a table another thread is writing ("dictionary changed size during iteration"). The local
stack runs many handlers at once on one moto server, so counters added by concurrent batches were lost
(measured: 24 of 890 sends of a variant missing from its stats, the overall count right). One lock
around every write, and around a transaction with its rollback, makes each of them atomic.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()  # a transaction's own put/update/delete calls take it again
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


def install() -> None:
    """Wrap moto's DynamoDB backend writes (idempotent; process-wide, like moto's own state)."""
    from moto.dynamodb.models import DynamoDBBackend

    for name in _WRITES:
        method = getattr(DynamoDBBackend, name)
        if getattr(method, "atomic", False):
            continue

        @functools.wraps(method)
        def locked(self: Any, *args: Any, _method: Any = method, **kwargs: Any) -> Any:
            with _LOCK:
                return _method(self, *args, **kwargs)

        locked.atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)
