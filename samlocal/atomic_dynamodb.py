"""moto's DynamoDB writes are not atomic across threads, and DynamoDB's are.

A moto transaction snapshots each table it touches and, when one of its conditions fails, puts the
whole snapshot back, wiping whatever other threads wrote in between; its snapshot (a deepcopy) can
also die on a table another thread is writing ("dictionary changed size during iteration"). The local
stack runs many handlers at once on one moto server, so counters added by concurrent batches were lost
(measured: 24 of 890 sends of a variant missing from its stats, the overall count right). One lock
around every write, and around a transaction with its rollback, makes each of them atomic.

moto's snapshot is also a deepcopy of every table a transaction touches, so each transaction cost grew
with the table (a 2,000-device campaign's claims and ledgers: most of a test's time). The snapshot here
is of the items the transaction names, taken before it runs and put back if it is cancelled; moto's own
table copy is skipped while it runs.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

_LOCK = threading.RLock()  # a transaction's own put/update/delete calls take it again
_IN_TRANSACTION = threading.local()
_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")


class _TableCopies:
    """Stands in for the `copy` module inside moto's DynamoDB models: a table is not copied while one of
    our item-level transactions runs (its rollback then puts back the same table object: a no-op)."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        if getattr(_IN_TRANSACTION, "on", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _key_of(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    name = str(op.get("TableName") or "")
    table = backend.tables.get(name) if name else None
    if table is None:
        return None
    if "Key" in op:
        return name, op["Key"]
    item = op.get("Item") or {}
    keys = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
    if not all(k in item for k in keys):
        return None
    return name, {k: item[k] for k in keys}


def _transact(method: Any) -> Any:
    @functools.wraps(method)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            before: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
            for entry in transact_items if len(transact_items) <= 100 else []:
                found = _key_of(self, next(iter(entry.values()), {})) if len(entry) == 1 else None
                if found is None:
                    continue
                name, key = found
                try:
                    current = self.get_item(name, key)
                except Exception:  # a malformed key: moto refuses the operation before writing
                    continue
                before.append((name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
            _IN_TRANSACTION.on = True
            try:
                return method(self, transact_items, *args, **kwargs)
            except BaseException:
                _IN_TRANSACTION.on = False
                for name, key, image in reversed(before):
                    if image is None:
                        self.delete_item(name, key)
                    else:
                        self.put_item(name, image)
                raise
            finally:
                _IN_TRANSACTION.on = False

    return transact_write_items


def install() -> None:
    """Wrap moto's DynamoDB backend writes (idempotent; process-wide, like moto's own state)."""
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    if not isinstance(models.copy, _TableCopies):
        models.copy = _TableCopies()  # type: ignore[assignment]
    if not getattr(DynamoDBBackend.transact_write_items, "item_snapshots", False):
        transact = _transact(DynamoDBBackend.transact_write_items)
        transact.item_snapshots = True  # type: ignore[attr-defined]
        DynamoDBBackend.transact_write_items = transact  # type: ignore[method-assign]
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
