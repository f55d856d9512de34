"""The demo's report: the summary tables, example notifications, the console summary and the HTML page
(`page.py`), from the run's outcome."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from local.demo import page
from local.demo.checks import Delivery, Observed, is_gone, pick_copy, retries
from local.demo.scenario import PLATFORMS, Device, short_zones


@dataclass
class Outcome:
    steps: list[page.Step]
    checks: list[page.Check]
    tables: list[page.Table]
    examples: list[page.Example]
    facts: list[tuple[str, str]]


def publish(outcome: Outcome, path: Path) -> None:
    """Write the HTML report to `path` and print the tables and cross-checks."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page.render(page.DemoReport(
        "Black Friday on the local stack", outcome.facts, outcome.steps, outcome.tables, outcome.examples,
        outcome.checks)), encoding="utf-8")  # fmt: skip
    for table in outcome.tables:
        print_table(table)
    print("\ncross-checks:")
    for check in outcome.checks:
        print(f"  {'ok ' if check.ok else 'MISMATCH'} {check.name}: {check.detail}")
    print(f"\nreport: {path}")


def summary_tables(campaign: dict[str, Any], devices: list[Device], seen: Observed, waves: list[dict[str, Any]],
                   zone_wave: dict[str, int], engaged: dict[str, set[str]],
                   posted: dict[str, float]) -> list[page.Table]:  # fmt: skip
    delivered = seen.delivered()

    def row(label: str, group: list[Device], *extra: Any) -> list[Any]:
        matched = [d for d in group if d.matches]
        sent = Counter(d.platform for d in matched if delivered[d.device_id])
        pruned = sum(1 for d in matched if is_gone(seen.refusals.get(d.device_id, [])))
        retried = sum(retries(seen.refusals.get(d.device_id, [])) for d in matched)
        failed = sum(1 for d in matched if d.deliverable and not delivered[d.device_id])
        return [label, *extra, len(matched), sum(1 for d in matched if not d.body["opted_in"]),
                sum(1 for d in matched if d.body["opted_in"] and d.quiet_at_send),
                *(sent[p] for p in PLATFORMS), sum(sent.values()), pruned, retried, failed]  # fmt: skip

    by_wave = defaultdict(list)
    for d in devices:
        by_wave[zone_wave[d.zone]].append(d)
    counts = ["targeted", "opted out", "deferred", "sent web", "sent ios", "sent android", "sent", "pruned",
              "retries", "failed"]  # fmt: skip
    wave_rows = [row(f"wave {i}", by_wave[i], f"{datetime.fromisoformat(w['send_at']):%a %H:%M}Z",
                     short_zones(w["time_zones"], 40)) for i, w in enumerate(waves, 1)]  # fmt: skip
    wave_rows.append(row("all waves", devices, "", ""))
    platform_rows = [row(p, [d for d in devices if d.platform == p]) for p in PLATFORMS]
    platform_rows.append(row("all platforms", devices))
    s = campaign["stats"]
    stats_row = ["campaign stats (API)", s.get("targeted"), (s.get("suppressed") or {}).get("opted_out"),
                 s.get("deferred", 0), "", "", "", s.get("sent"), s.get("pruned"), "", s.get("failed", 0)]  # fmt: skip
    platform_rows.append(stats_row)
    eng = [["campaign stats (API)", s.get("opened", 0), s.get("clicked", 0), s.get("converted", 0),
            float(s.get("revenue", 0))],
           ["posted by the demo", len(engaged["opened"]), len(engaged["clicked"]), len(engaged["converted"]),
            posted["revenue"]]]  # fmt: skip
    return [
        page.Table("Per wave (devices attributed to a wave by their time zone)",
                     ["wave", "UTC", "zones", *counts], wave_rows,
                     "targeted = matches the filter; sent/pruned/retries from what the stand-ins accepted and "
                     "refused; failed = expected but neither delivered nor pruned."),
        page.Table("Per platform, and the campaign's own stats", ["platform", *[c for c in counts
                     if not c.startswith("sent ")]], [r[:4] + r[7:] for r in platform_rows[:-1]]
                     + [stats_row[:4] + stats_row[7:]]),
        page.Table("Engagement (POST /v1/events with the client key)",
                     ["", "opened", "clicked", "converted", "revenue USD"], eng,
                     "each device counts once per stat (repeat opens were posted too); revenue adds every purchase."),
    ]  # fmt: skip


def examples(seen: Observed) -> list[page.Example]:
    """Nine notifications as shown: each language (platforms in turn), then a VIP, a device without a
    first name and one whose locale has no translation (pt-PT: English, pt-BR is never guessed)."""
    ordered = sorted(seen.deliveries, key=lambda x: x.device.device_id)

    def speaks(lang: str | None, platform: str) -> Callable[[Device], bool]:
        return lambda d: pick_copy(d.body["locale"]) == lang and d.platform == platform

    langs: list[str | None] = [None, "de", "fr", "pt-BR", "es", "ja"]
    wanted = [speaks(lang, PLATFORMS[i % 3]) for i, lang in enumerate(langs)]
    wanted += [
        lambda d: bool(d.body["tags"].get("vip")),
        lambda d: "first_name" not in d.body["attributes"],
        lambda d: d.body["locale"] == "pt-PT",
    ]
    chosen: list[Delivery] = []
    for want in wanted:
        found = next((x for x in ordered if want(x.device) and x not in chosen), None)
        if found is not None:
            chosen.append(found)
    return [page.Example(x.device.platform, x.device.device_id, x.device.body["locale"], x.device.zone,
                           x.title, x.body, x.url, x.image) for x in chosen]  # fmt: skip


def print_table(table: page.Table) -> None:
    cells = [
        [str(c) if not isinstance(c, float) else f"{c:,.2f}" for c in r] for r in [table.header, *table.rows]
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(table.header))]
    print(f"\n{table.caption}")
    for n, r in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 or (i < 3 and not c[:1].isdigit()) else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))))  # fmt: skip
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))
