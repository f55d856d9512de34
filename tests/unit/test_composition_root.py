"""One composition root: only `pushengine.bootstrap` (and `config.py`, which defines them) reads the
environment's settings; every other module of the engine is handed its settings, tables and clients."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "layers" / "shared" / "pushengine"
ROOT_MODULES = {"bootstrap.py", "config.py"}


def settings_reads(source: str) -> list[int]:
    """Lines that call `settings()` (however imported) or `Settings.from_env()`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        by_name = isinstance(called, ast.Name) and called.id == "settings"
        by_attribute = isinstance(called, ast.Attribute) and (
            (called.attr == "settings" and isinstance(called.value, ast.Name) and called.value.id == "config")
            or called.attr == "from_env"
        )
        if by_name or by_attribute:
            lines.append(node.lineno)
    return lines


def test_nothing_below_the_root_reads_settings() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name not in ROOT_MODULES or path.parent != PACKAGE
        if (lines := settings_reads(path.read_text(encoding="utf-8")))
    }
    assert found == {}, f"read settings below the composition root (take them from pushengine.bootstrap): {found}"


def test_the_root_does_read_them() -> None:
    assert settings_reads((PACKAGE / "bootstrap.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "from pushengine.config import settings\ndef f():\n    return settings().apps_table\n",
        "from pushengine import config\nx = config.settings()\n",
        "def f():\n    from pushengine.config import Settings\n    return Settings.from_env()\n",
    ],
)
def test_a_read_put_back_is_found(source: str) -> None:
    assert settings_reads(source) != []


def test_a_setting_handed_down_is_not_a_read() -> None:
    assert settings_reads("def f(settings):\n    return settings.apps_table, deps.settings.shard_count\n") == []
