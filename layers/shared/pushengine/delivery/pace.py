"""max_per_second: one timeline of send slots per campaign, and the one rule every paced send obeys.

The contract holds at the receiver: in any sliding second, at most `rate` sends of the campaign start,
whatever path they take (a wave's batches, a quiet-hours release, a triggered send). Every path queues its
batches with the campaign's rate (`plan`), and the sender starts each send only through `BatchPace`:

- **Slots.** The campaign's timeline hands out slot k at origin + k * gap(rate). A reservation takes a block
  of consecutive slots with one atomic ADD on the campaign's progress item (`CampaignStore.reserve_slots`),
  so concurrent reservations (waves, tasks, releases, triggers, redelivered batches, on any number of
  senders) never share a slot, with no read and no condition to lose. A throttled write is retried
  (`aws.retried`); one whose answer was lost after it applied reserves a block more, which leaves those
  slots unused: slower, never faster. The origin is fixed by the first reservation (LEAD_SECONDS ahead of
  it); a reservation whose slots are already past skips ahead to now, the skipped slots unused.
- **Start by the clock, never catch up.** A send may start only inside its slot's window
  [slot, slot + START_TOLERANCE]: it waits for the slot, and checks the clock again right before it goes
  out. A send that finds its slot past by more than that (its worker ran late, its cap check was slow, its
  batch came off the queue late) gives the slot up and takes the next one not yet past; when its batch's
  block has none left, a new block from the timeline's end. Fixed slots sent whenever the worker got there
  (what this replaces) let one late send and the next `rate` on-time ones share a second.
- **Why no second holds more than `rate`.** A send reaches the receiver within TRANSIT_ALLOWANCE of
  its start (what varies between the clock check and the receiver's stamp: encryption, the HTTP write).
  So every send received in a second [a, a + 1) has its slot in the open interval
  (a - START_TOLERANCE - TRANSIT_ALLOWANCE, a + 1), of length (1 + START_TOLERANCE + TRANSIT_ALLOWANCE),
  which is exactly `rate` gaps: it holds at most `rate` slots. The price: a paced campaign runs at
  rate / (1 + START_TOLERANCE + TRANSIT_ALLOWANCE), about 13% under its limit.
- **Quiet hours at the slot.** A slot can fall long after its batch was decided (a big audience at a low
  rate, a batch back late), so the sender checks the device's quiet hours again at its slot: `skip`
  suppresses the send, `defer` leaves it for the batch's next delivery, queued again until they end.
  One already in them when it gets ready spends no slot.
- **Retries and long blocks.** A retried attempt is another send at the receiver: it takes a slot of its
  own. One delivery sends only the slots of its window (`paced_window_seconds`), then queues the batch
  again holding the rest of its block, so a block at a low rate never outlasts the sender's timeout.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pushengine.ports import CampaignStore

LEAD_SECONDS = 1.0
TIMELINE = "campaign"  # the progress item's name for it (its counter and `campaign@origin`)
START_TOLERANCE = 0.05  # how late after its slot a send may still start
TRANSIT_ALLOWANCE = 0.10  # how much the time from a send's start to its receipt may vary


def timeline_of(batch: Mapping[str, Any]) -> str:
    """The campaign whose timeline paces this batch: its own, or the one it shares (`pace_id`: a journey's
    send steps, in every version, share one timeline, so the journey's max_per_second holds across them)."""
    return str(batch.get("pace_id") or batch["campaign_id"])


def gap(rate: float) -> float:
    """Seconds between two slots of a timeline paced at `rate` a second (see the module's proof)."""
    return (1 + START_TOLERANCE + TRANSIT_ALLOWANCE) / rate


def reserve(
    campaigns: CampaignStore, app_id: str, campaign_id: str, count: int, rate: float, now: float
) -> float:
    """When the first of `count` consecutive slots of the campaign's timeline is due (the rest gap(rate)
    apart): never sooner than LEAD_SECONDS from `now`."""
    step, earliest = gap(rate), now + LEAD_SECONDS
    first, origin = campaigns.reserve_slots(app_id, campaign_id, TIMELINE, count, earliest)
    if origin + first * step >= earliest:
        return origin + first * step
    # late: take a block whose last `count` slots start no sooner than `earliest` (others may add meanwhile,
    # which only moves the block later)
    due_slot = math.ceil((earliest - origin) / step)
    block = max(count, due_slot - first)
    first, origin = campaigns.reserve_slots(app_id, campaign_id, TIMELINE, block, earliest)
    return origin + (first + block - count) * step


def plan(
    campaigns: CampaignStore,
    batches: list[dict[str, Any]],
    rate: float,
    now: float,
    ahead: float = 0.0,
) -> list[int]:
    """Give queued batches of one campaign their slots, whichever path queues them: consecutive blocks of
    the timeline, `slot_at` the first of each (`not_before`, when to come back, the same at first), `rate`
    for the sender, `ahead` how far the instant the batches were decided at runs ahead of the wall clock
    (a wave fired before its instant: quiet hours are checked again at slot + ahead). Returns each batch's
    DelaySeconds (at most 15 minutes: the sender queues anything later again)."""
    if not batches:
        return []
    app_id, campaign_id = batches[0]["app_id"], timeline_of(batches[0])
    count = sum(len(b["devices"]) for b in batches)
    at = reserve(campaigns, app_id, campaign_id, count, rate, now)
    delays = []
    for batch in batches:
        batch.update(not_before=at, slot_at=at, slot_count=len(batch["devices"]), rate=rate)
        if ahead:
            batch["ahead"] = round(ahead, 3)
        at += len(batch["devices"]) * gap(rate)
        delays.append(int(min(900, batch["not_before"] - now - LEAD_SECONDS)))
    return delays


class Later(Exception):
    """This send does not go in this delivery: its batch comes back at `at` (wall clock)."""

    def __init__(self, at: float, reason: str) -> None:
        super().__init__(reason)
        self.at, self.reason = at, reason


class BatchPace:
    """The slots one delivery of a paced batch holds, handed to its sends in the order they get ready.

    `block`: the batch's own (first slot, count), None when its path reserved none (the first send then
    reserves). `unstarted`: how many of its sends have not started yet (a new block is that big);
    `window`: how long this delivery may send for (the invocation's time is bounded)."""

    def __init__(
        self,
        campaigns: CampaignStore,
        batch: Mapping[str, Any],
        unstarted: int,
        *,
        wall: Callable[[], float],
        sleep: Callable[[float], Awaitable[None]],
        max_wait: float,
        window: float = math.inf,
    ) -> None:
        self.campaigns, self.app_id, self.campaign_id = campaigns, batch["app_id"], timeline_of(batch)
        self.rate = float(batch["rate"])
        self.step = gap(self.rate)
        self.wall, self.sleep, self.max_wait = wall, sleep, max_wait
        self.until = wall() + window  # slots after this go in the batch's next delivery
        self.unstarted = max(1, unstarted)
        self.blocks: list[list[float]] = []  # [first slot, count, next unused index]
        if "slot_at" in batch:  # a batch queued before slot_count held one slot per device left to send
            count = batch.get(
                "slot_count", unstarted if batch.get("slots") == "remaining" else len(batch["devices"])
            )
            self.blocks.append([float(batch["slot_at"]), float(count), 0])
        self.later: tuple[float, int] | None = None  # the block the batch's next delivery holds
        self.back_at = 0.0  # and when it comes back
        self._lock = asyncio.Lock()

    def _take(self, earliest: float) -> tuple[float, list[float]] | None:
        """The first unused slot no sooner than `earliest`, marked used (the ones before it are given up),
        and its block."""
        for block in self.blocks:
            start, count, cursor = block
            index = max(int(cursor), math.ceil((earliest - start) / self.step - 1e-9))
            if index < count:
                block[2] = index + 1
                self.unstarted = max(1, self.unstarted - 1)
                return start + index * self.step, block
            block[2] = count
        return None

    async def slot(self, earliest: float = 0.0) -> float:
        """Wait for this send's slot, and return it once the clock is inside its window. Raises Later when
        the next free slot is past what this delivery waits for."""
        while True:
            taken = self._take(max(earliest, self.wall() - START_TOLERANCE))
            if taken is None:
                await self._reserve()
                continue
            slot, block = taken
            if slot > self.until:  # past this delivery's window: the next one keeps the block
                self._hold(slot, block[0], int(block[1]))
            if (wait := slot - self.wall()) > 0:
                await self.sleep(wait)
            if self.on_time(slot):
                return slot
            # woke up late: the slot stays unused, the next one is taken

    def on_time(self, slot: float) -> bool:
        return self.wall() <= slot + START_TOLERANCE

    async def start(self, slot: float | None) -> float:
        """Right before a send goes out: its slot if still on time, else (or for a retry: None) a new one."""
        if slot is not None and self.on_time(slot):
            return slot
        return await self.slot()

    async def _reserve(self) -> None:
        async with self._lock:  # one reservation at a time; the others then take from its block
            if self.later is not None:
                raise Later(self.back_at, "paced")
            if self._take_peek():
                return
            count = self.unstarted
            at = await asyncio.to_thread(
                reserve, self.campaigns, self.app_id, self.campaign_id, count, self.rate, self.wall()
            )
            if at - self.wall() > self.max_wait:  # the batch comes back for this block
                self._hold(at, at, count)
            self.blocks.append([at, float(count), 0])

    def _hold(self, back_at: float, first: float, count: int) -> None:
        """The rest of the batch goes in its next delivery, at `back_at`, holding the block (first, count)."""
        if self.later is None:
            self.later, self.back_at = (first, count), back_at
        raise Later(back_at, "paced")

    def _take_peek(self) -> bool:
        """Whether a held block still has a slot not yet past (another send reserved while this one waited)."""
        earliest = self.wall() - START_TOLERANCE
        return any(
            max(int(cursor), math.ceil((earliest - start) / self.step - 1e-9)) < count
            for start, count, cursor in self.blocks
        )
