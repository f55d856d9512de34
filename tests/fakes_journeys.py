"""`JourneyStore` in memory, with the repository's conditions: an enrolment moves only from the `seq` it was
read at, and a move's counts, timers and path change with it or not at all. `fail("transition")` makes the
next transition raise before any effect (a crash, or a conflict past the retry bound)."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from pushengine.journeys.store import Move
from tests.fakes import Faults, plain


class FakeJourneyStore(Faults):
    def __init__(self) -> None:
        super().__init__()
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.counts: dict[tuple[str, str], Counter[str]] = {}  # revenue amounts too
        self.transitions = 0

    def _enrol_key(self, app_id: str, journey_id: str, device_id: str) -> tuple[str, str]:
        return f"enrol#{app_id}#{journey_id}", device_id

    def put_journey(self, item: dict[str, Any], *, expected_version: int | None) -> bool:
        key = (f"journey#{item['app_id']}", str(item["journey_id"]))
        current = self.items.get(key)
        if (expected_version is None and current is not None) or (
            expected_version is not None and (current is None or current["version"] != expected_version)
        ):
            return False
        self.items[key] = plain(item)
        return True

    def journey(self, app_id: str, journey_id: str) -> dict[str, Any] | None:
        found = self.items.get((f"journey#{app_id}", journey_id))
        return plain(found) if found else None

    def journeys(self, app_id: str) -> list[dict[str, Any]]:
        return [plain(v) for (pk, _), v in self.items.items() if pk == f"journey#{app_id}"]

    def set_status(self, app_id: str, journey_id: str, status: str, allowed_from: Sequence[str]) -> bool:
        found = self.items.get((f"journey#{app_id}", journey_id))
        if found is None or found["status"] not in allowed_from:
            return False
        found["status"] = status
        return True

    def mark_listening(self, app_id: str, journey_id: str, listening: int) -> None:
        found = self.items.get((f"journey#{app_id}", journey_id))
        if found is not None:
            found["listening"] = listening

    def listen(self, app_id: str, journey_id: str, roles: Mapping[str, Sequence[str]]) -> None:
        self.check("listen")
        for role, names in roles.items():
            for name in names:
                self.items[(f"jlisten#{app_id}#{name}", f"{journey_id}#{role}")] = {
                    "journey_id": journey_id,
                    "role": role,
                }

    def unlisten(self, app_id: str, journey_id: str, roles: Mapping[str, Sequence[str]]) -> None:
        for role, names in roles.items():
            for name in names:
                self.items.pop((f"jlisten#{app_id}#{name}", f"{journey_id}#{role}"), None)

    def listeners(self, app_id: str, event: str) -> list[dict[str, Any]]:
        return [plain(v) for (pk, _), v in sorted(self.items.items()) if pk == f"jlisten#{app_id}#{event}"]

    def enrolment(self, app_id: str, journey_id: str, device_id: str) -> dict[str, Any] | None:
        found = self.items.get(self._enrol_key(app_id, journey_id, device_id))
        return plain(found) if found else None

    def _add(self, app_id: str, journey_id: str, stats: Mapping[str, float]) -> None:
        self.counts.setdefault((app_id, journey_id), Counter()).update({k: v for k, v in stats.items() if v})

    def enrol(self, item: dict[str, Any], previous: dict[str, Any] | None, stats: Mapping[str, int],
              timer: dict[str, Any]) -> bool:  # fmt: skip
        self.check("enrol")
        key = self._enrol_key(item["app_id"], item["journey_id"], item["device_id"])
        current = self.items.get(key)
        if previous is None and current is not None:
            return False
        if previous is not None and (
            current is None or (current["run"], current["seq"]) != (previous["run"], previous["seq"])
        ):
            return False
        self.items[key] = plain(item)
        self.items[(timer["pk"], timer["sk"])] = plain(timer)
        self._add(item["app_id"], item["journey_id"], stats)
        return True

    def transition(self, enrolment: Mapping[str, Any], move: Move) -> bool:
        self.check("transition")
        key = self._enrol_key(enrolment["app_id"], enrolment["journey_id"], enrolment["device_id"])
        current = self.items.get(key)
        if current is None or current["seq"] != enrolment["seq"]:
            return False
        updated = copy.deepcopy(current)
        updated.update(plain(move.fields))
        for name in move.remove:
            updated.pop(name, None)
        updated["seq"] = current["seq"] + 1
        self.items[key] = updated
        if move.consume is not None:
            self.items.pop((move.consume["pk"], move.consume["sk"]), None)
        if move.arm is not None:
            self.items[(move.arm["pk"], move.arm["sk"])] = plain(move.arm)
        self._add(enrolment["app_id"], enrolment["journey_id"], move.stats)
        self.transitions += 1
        return True

    def engage(self, app_id: str, journey_id: str, device_id: str, step: str, op: str) -> bool:
        current = self.items.get(self._enrol_key(app_id, journey_id, device_id))
        if current is None or op in current.get(f"eng_{step}", []):
            return False
        current[f"eng_{step}"] = [*current.get(f"eng_{step}", []), op]
        self._add(app_id, journey_id, {f"step.{step}.{op}": 1})
        return True

    def convert(self, enrolment: Mapping[str, Any], credit: Mapping[str, float]) -> bool:
        current = self.items.get(self._enrol_key(enrolment["app_id"], enrolment["journey_id"], enrolment["device_id"]))
        if current is None or current["run"] != enrolment["run"] or current.get("converted_run") == enrolment["run"]:
            return False
        current["converted_run"] = enrolment["run"]
        self._add(enrolment["app_id"], enrolment["journey_id"], credit)
        return True

    def drop_timer(self, key: dict[str, str]) -> None:
        self.items.pop((key["pk"], key["sk"]), None)

    def due_timers(self, shard: int, until: str, limit: int) -> list[dict[str, Any]]:
        found = sorted(
            (sk, v) for (pk, sk), v in self.items.items() if pk == f"jtimer#{shard}" and sk <= until + "~"
        )
        return [plain({**v, "pk": f"jtimer#{shard}", "sk": sk}) for sk, v in found[:limit]]

    def timers(self) -> list[dict[str, Any]]:
        return [
            plain({**v, "pk": pk, "sk": sk})
            for (pk, sk), v in sorted(self.items.items())
            if pk.startswith("jtimer#")
        ]

    def held(self, app_id: str, journey_id: str, limit: int) -> list[dict[str, Any]]:
        pk = f"jheld#{app_id}#{journey_id}"
        return [plain({**v, "pk": pk, "sk": sk}) for (p, sk), v in sorted(self.items.items()) if p == pk][
            :limit
        ]

    def put_send_group(self, app_id: str, journey_id: str, group_id: str, record: Mapping[str, Any]) -> bool:
        self.check("put_send_group")
        key = (f"jsend#{app_id}#{journey_id}", group_id)
        if key in self.items:
            return False
        self.items[key] = plain(dict(record))
        return True

    def send_group(self, app_id: str, journey_id: str, group_id: str) -> dict[str, Any] | None:
        pk = f"jsend#{app_id}#{journey_id}"
        found = self.items.get((pk, group_id))
        return None if found is None else {**plain(found), "queued": (pk, f"{group_id}#queued") in self.items}

    def mark_send_group(self, app_id: str, journey_id: str, group_id: str, expires_at: int) -> None:
        self.check("mark_send_group")
        self.items[(f"jsend#{app_id}#{journey_id}", f"{group_id}#queued")] = {}

    def stats(self, app_id: str, journey_id: str) -> dict[str, float]:
        return dict(self.counts.get((app_id, journey_id), Counter()))

    def erase_device(self, app_id: str, journey_ids: Sequence[str], device_id: str) -> int:
        return sum(
            self.items.pop(self._enrol_key(app_id, j, device_id), None) is not None for j in journey_ids
        )
