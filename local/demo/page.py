"""The demo's HTML report: data in, one self-contained HTML string out (inline SVG, no scripts, no fetches)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

PLATFORMS = ("web", "ios", "android")
COLOURS = {"web": "#3b82f6", "ios": "#111827", "android": "#16a34a"}
PLATFORM_NAMES = {"web": "Web Push", "ios": "APNs (iOS)", "android": "FCM (Android)"}


@dataclass(frozen=True)
class Step:
    """One jump of the driven clock: what fired at `at` and what the stand-ins accepted because of it."""

    at: datetime
    label: str  # e.g. "wave 3" or "quiet-hours release"
    zones: list[str]
    delivered: dict[str, int]  # platform -> messages accepted in this step
    seconds: float  # real time the step took


@dataclass(frozen=True)
class Table:
    caption: str
    header: list[str]
    rows: list[list[Any]]
    note: str = ""


@dataclass(frozen=True)
class Example:
    """A notification as one device shows it (from the payload its provider stand-in accepted)."""

    platform: str
    device_id: str
    locale: str
    zone: str
    title: str
    body: str
    url: str | None
    image_url: str | None


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True)
class DemoReport:
    title: str
    facts: list[tuple[str, str]]
    steps: list[Step]
    tables: list[Table]
    examples: list[Example]
    checks: list[Check]
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;
color:#111827;background:#f8fafc;padding:0 16px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px}
.facts{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.fact{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:6px 10px}
.fact b{display:block;font-size:16px}
table{border-collapse:collapse;background:#fff;margin:6px 0 4px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e5e7eb;padding:4px 8px;text-align:right;white-space:nowrap}th{background:#f1f5f9}
td.text{text-align:left;white-space:normal}th{white-space:normal}
td:first-child,th:first-child{text-align:left}caption{text-align:left;font-weight:600;padding:4px 0}
tr.total td{font-weight:600;background:#f8fafc}.note{color:#6b7280;font-size:12px;margin:0 0 12px}
.chart{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:8px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:14px}
.card{background:#fff;border-radius:14px;box-shadow:0 1px 4px rgba(0,0,0,.15);padding:10px 12px;
display:flex;gap:10px}
.card.ios{background:#f3f4f6;border-radius:18px}.card.android{border-radius:6px;border-left:4px solid #16a34a}
.card.web{border-radius:4px;border:1px solid #d1d5db}
.icon{width:34px;height:34px;border-radius:8px;background:#f97316;color:#fff;font-weight:700;
display:flex;align-items:center;justify-content:center;flex:none}
.meta{color:#6b7280;font-size:11px}.ttl{font-weight:600}.img{margin-top:6px;height:46px;border-radius:6px;
background:repeating-linear-gradient(45deg,#fde68a,#fde68a 8px,#fbbf24 8px,#fbbf24 16px);color:#78350f;
font-size:11px;display:flex;align-items:center;justify-content:center}
.ok{color:#15803d}.bad{color:#b91c1c;font-weight:600}ul.checks{list-style:none;padding:0}
"""


def render(report: DemoReport) -> str:
    """The whole report as one HTML document."""
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f"<div class='meta'>generated {report.generated_at:%Y-%m-%d %H:%M:%SZ}</div>",
        "<div class='facts'>",
        *(f"<div class='fact'>{escape(k)}<b>{escape(v)}</b></div>" for k, v in report.facts),
        "</div>",
        "<h2>Deliveries over the day (UTC), one bar per clock step</h2>",
        f"<div class='chart'>{chart(report.steps)}</div>",
        *(_table(t) for t in report.tables),
        "<h2>What devices showed</h2><div class='cards'>",
        *(_card(e) for e in report.examples),
        "</div><h2>Cross-checks</h2><ul class='checks'>",
        *(_check(c) for c in report.checks),
        "</ul></body></html>",
    ]
    return "\n".join(parts)


def chart(steps: list[Step], width: int = 1140, height: int = 340) -> str:
    """Stacked bars (per platform) at each step's UTC instant, on an hourly axis."""
    left, right, top, bottom = 48, 16, 16, 64
    if not steps:
        return "<p>No schedule fired.</p>"
    start = min(s.at for s in steps).replace(minute=0, second=0, microsecond=0)
    end = max(s.at for s in steps).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    span = max((end - start).total_seconds(), 3600.0)
    peak = max(max(sum(s.delivered.values()) for s in steps), 1)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(at: datetime) -> float:
        return left + plot_w * (at - start).total_seconds() / span

    def y(count: float) -> float:
        return top + plot_h * (1 - count / peak)

    out = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
           f"viewBox='0 0 {width} {height}' font-size='11' font-family='system-ui,sans-serif'>"]  # fmt: skip
    for i in range(5):  # horizontal grid with counts
        count = peak * i / 4
        out.append(f"<line x1='{left}' x2='{width - right}' y1='{y(count):.1f}' y2='{y(count):.1f}' "
                   f"stroke='#e5e7eb'/><text x='{left - 6}' y='{y(count) + 4:.1f}' text-anchor='end' "
                   f"fill='#6b7280'>{count:.0f}</text>")  # fmt: skip
    hours = int(span // 3600)
    every = max(1, hours // 24)
    for h in range(0, hours + 1, every):
        at = start + timedelta(hours=h)
        out.append(f"<line x1='{x(at):.1f}' x2='{x(at):.1f}' y1='{top + plot_h}' y2='{top + plot_h + 4}' "
                   f"stroke='#9ca3af'/><text x='{x(at):.1f}' y='{top + plot_h + 16}' text-anchor='middle' "
                   f"fill='#374151'>{at:%H}</text>")  # fmt: skip
        if at.hour == 0 or h == 0:
            out.append(f"<text x='{x(at):.1f}' y='{top + plot_h + 30}' text-anchor='middle' "
                       f"fill='#6b7280'>{at:%a %d %b}</text>")  # fmt: skip
    bar = max(4.0, min(14.0, plot_w / (hours + 1) * 0.6))
    for step in steps:
        base = 0
        tip = f"{step.at:%a %H:%M}Z {step.label}: " + ", ".join(step.zones)
        for platform in PLATFORMS:
            n = step.delivered.get(platform, 0)
            if n:
                out.append(f"<rect x='{x(step.at) - bar / 2:.1f}' y='{y(base + n):.1f}' width='{bar:.1f}' "
                           f"height='{y(base) - y(base + n):.1f}' fill='{COLOURS[platform]}'>"
                           f"<title>{escape(tip)} — {PLATFORM_NAMES[platform]} {n}</title></rect>")  # fmt: skip
                base += n
        if (
            "quiet-hours" in step.label and "wave" not in step.label
        ):  # deferred releases are marked, so they are not taken for waves
            out.append(f"<text x='{x(step.at):.1f}' y='{y(base) - 4:.1f}' text-anchor='middle' "
                       f"fill='#b45309'>q</text>")  # fmt: skip
    out.append(f"<text x='{left}' y='{height - 8}' fill='#374151'>UTC hour</text>")
    legend_x = left + 90
    for platform in PLATFORMS:
        out.append(f"<rect x='{legend_x}' y='{height - 18}' width='10' height='10' fill='{COLOURS[platform]}'/>"
                   f"<text x='{legend_x + 14}' y='{height - 9}'>{PLATFORM_NAMES[platform]}</text>")  # fmt: skip
        legend_x += 130
    out.append(f"<text x='{legend_x}' y='{height - 9}' fill='#b45309'>q = quiet-hours release</text></svg>")
    return "".join(out)


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    rows = []
    for row in table.rows:
        css = " class='total'" if str(row[0]).lower().startswith(("all", "total", "campaign")) else ""
        cells = "".join(
            f"<td class='text'>{escape(c)}</td>" if isinstance(c, str) else f"<td>{escape(_cell(c))}</td>"
            for c in row
        )
        rows.append(f"<tr{css}>{cells}</tr>")
    note = f"<p class='note'>{escape(table.note)}</p>" if table.note else ""
    return (f"<h2>{escape(table.caption)}</h2><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>{note}")  # fmt: skip


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _card(e: Example) -> str:
    image = f"<div class='img'>image: {escape(e.image_url)}</div>" if e.image_url else ""
    link = f"<div class='meta'>opens {escape(e.url)}</div>" if e.url else ""
    return (f"<div class='card {escape(e.platform)}'><div class='icon'>BF</div><div>"
            f"<div class='meta'>{escape(PLATFORM_NAMES.get(e.platform, e.platform))} · {escape(e.locale)} · "
            f"{escape(e.zone)} · {escape(e.device_id)}</div>"
            f"<div class='ttl'>{escape(e.title)}</div><div>{escape(e.body)}</div>{link}{image}</div></div>")  # fmt: skip


def _check(c: Check) -> str:
    mark = "<span class='ok'>✔</span>" if c.ok else "<span class='bad'>✘ MISMATCH</span>"
    return f"<li>{mark} {escape(c.name)}: {escape(c.detail)}</li>"
