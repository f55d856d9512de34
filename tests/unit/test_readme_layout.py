"""README's code-layout section matches the tree: every top-level directory, every module and subpackage of
pushengine and every function is named there, and every file it names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "shared" / "pushengine"
NOT_SOURCE = {"reports", "node_modules", "__pycache__"}
# where a name in the section may be relative to (a router's file is named as in `routes/x.py`, or after it)
BASES = [ROOT, ROOT / "layers" / "shared", PACKAGE, *(PACKAGE / d for d in ("routes", "delivery", "dal", "providers")),
         ROOT / "local" / "demo"]  # fmt: skip


def layout_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("\n## Code layout\n")
    end = text.index("\n## ", start + 1)
    return text[start:end]


def named() -> set[str]:
    return {name.strip() for name in re.findall(r"`([^`]+)`", layout_section())}


def test_every_directory_module_and_function_is_named() -> None:
    names = named()
    top = sorted(
        p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".") and p.name not in NOT_SOURCE
    )
    missing = [d for d in top if not any(n == f"{d}/" or n.startswith(f"{d}/") for n in names)]
    modules = sorted(p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    missing += [m for m in modules if m not in names]
    packages = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())
    missing += [f"{p}/" for p in packages if f"{p}/" not in names]
    functions = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "app.py").exists())
    missing += [f"functions/{f}/app.py" for f in functions if f"functions/{f}/app.py" not in names]
    assert missing == [], f"README's code layout does not name: {missing}"


def test_every_file_the_layout_names_exists() -> None:
    paths = [n for n in named() if "<" not in n and (n.endswith((".py", ".yaml", "/")) or n.startswith(".ci/"))]
    stale = [n for n in paths if not any((base / n.strip("/")).exists() for base in BASES)]
    assert stale == [], f"README's code layout names what is not in the tree: {stale}"
