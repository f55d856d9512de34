"""Backfill `aud`/`ark` and the zone device counts of a deployment made before the audience index was
keyed per zone bucket (see README, "Upgrading a deployment"; the work is pushengine.dal.audience_migration).

python -m tools.migrate_audience --stack my-push-engine [--segments 8] [--workers 4] [--fresh]
python -m tools.migrate_audience --devices-table T --zones-table T --delivery-state-table T   # AWS_ENDPOINT_URL
                                                                                           # for a local stack
Safe to run again; an interrupted run goes on where it stopped (its state is in the delivery-state table).
"""

from __future__ import annotations

import argparse
import sys
import time

from pushengine.dal.audience_migration import AudienceMigration, Report, SegmentState, stack_tables

TABLES = ("DevicesTable", "ZonesTable", "DeliveryStateTable")


class Progress:
    """One line on stderr at most every `every` seconds: segments done, devices scanned and rewritten."""

    def __init__(self, every: float = 2.0) -> None:
        self.every, self.started, self.last = every, time.monotonic(), 0.0

    def __call__(self, states: list[SegmentState]) -> None:
        now = time.monotonic()
        if now - self.last < self.every and not all(s.done for s in states):
            return
        self.last = now
        scanned = sum(s.scanned for s in states)
        print(
            f"· segments {sum(s.done for s in states)}/{len(states)} done, {scanned:,} devices scanned, "
            f"{sum(s.rewritten for s in states):,} rewritten ({scanned / max(1e-9, now - self.started):,.0f}/s)",
            file=sys.stderr, flush=True,
        )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", help="a deployed stack's name: its tables are looked up")
    parser.add_argument("--devices-table")
    parser.add_argument("--zones-table")
    parser.add_argument("--delivery-state-table")
    parser.add_argument("--segments", type=int, default=8, help="parallel scan segments (fixed per run)")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--fresh", action="store_true", help="forget a saved state and scan everything again")
    args = parser.parse_args(argv)
    names: list[str] = [args.devices_table, args.zones_table, args.delivery_state_table]
    if args.stack:
        found = stack_tables(args.stack, TABLES)
        names = [found[t] for t in TABLES]
    if not all(names):
        parser.error("give --stack, or all of --devices-table, --zones-table and --delivery-state-table")
    migration = AudienceMigration(*names, segments=args.segments, page_size=args.page_size)
    report: Report = migration.run(workers=args.workers, fresh=args.fresh, on_page=Progress())
    print(
        f"{report.scanned:,} devices scanned, {report.rewritten:,} rewritten; "
        f"{len(report.zones)} zones counted ({sum(report.zones.values()):,} devices in the audience)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
