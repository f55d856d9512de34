"""`python -m local.demo` end to end: a small audience, exit 0, and a report a browser actually renders."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "reports" / "demo-e2e.html"
SCREENSHOT = ROOT / "reports" / "demo-e2e.png"
# The chart's platform colours (local/demo/page.py): solid bar interiors survive anti-aliasing.
WEB_BLUE, ANDROID_GREEN = (0x3B, 0x82, 0xF6), (0x16, 0xA3, 0x4A)


def find_chromium() -> str:
    """The headless browser to render with; the test never installs one (the Makefile/CI does)."""
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "no Chromium on PATH: install it (Debian: `apt-get install -y chromium`) to render the report"
    )


def png_rows(data: bytes, limit: int) -> list[list[tuple[int, int, int]]]:
    """The first `limit` pixel rows of an 8-bit RGB/RGBA, non-interlaced PNG (what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        header = body if kind == b"IHDR" else header
        idat += body if kind == b"IDAT" else b""
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and colour in (2, 6) and interlace == 0, f"unsupported PNG: {depth=} {colour=}"
    bpp = 3 if colour == 2 else 4
    raw, stride, prev, rows = zlib.decompress(idat), width * bpp, bytearray(width * bpp), []
    for y in range(min(limit, height)):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):  # undo the row filter (PNG spec, section 9)
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append([tuple(line[x : x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return rows  # type: ignore[return-value]


def test_demo_runs_clean_and_its_report_renders(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'layers' / 'shared'}{os.pathsep}{ROOT}"}
    run = subprocess.run(
        [sys.executable, "-m", "local.demo", "--devices", "120", "--report", str(REPORT)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, f"demo exited {run.returncode}\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    assert "MISMATCH" not in run.stdout
    assert "Traceback" not in run.stdout + run.stderr, run.stderr[-4000:]  # a clean run logs no traceback
    html = REPORT.read_text(encoding="utf-8")
    assert "<svg" in html and "Cross-checks" in html and "<script" not in html

    SCREENSHOT.unlink(missing_ok=True)
    shot = subprocess.run(
        [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         f"--user-data-dir={tmp_path / 'chromium'}", f"--screenshot={SCREENSHOT}", "--window-size=1280,1600",
         REPORT.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert SCREENSHOT.exists(), f"no screenshot (exit {shot.returncode}): {shot.stderr[-2000:]}"
    data = SCREENSHOT.read_bytes()
    assert len(data) > 10_000, f"screenshot is only {len(data)} bytes"
    pixels = {p for row in png_rows(data, 700)[::4] for p in row}
    assert len(pixels) > 50, "the page rendered as (almost) one colour"
    assert WEB_BLUE in pixels and ANDROID_GREEN in pixels, "the chart's bars are not on the page"
