"""The console function serves its own static files and nothing else, with a same-origin-only CSP."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from tests.conftest import ROOT

spec = importlib.util.spec_from_file_location("console_app", ROOT / "functions" / "console" / "app.py")
assert spec and spec.loader
console = importlib.util.module_from_spec(spec)
spec.loader.exec_module(console)


def get(path: str | None) -> dict[str, Any]:
    return console.lambda_handler({"pathParameters": {"path": path} if path else None}, None)


def test_the_page_and_its_modules() -> None:
    page = get(None)
    assert page["statusCode"] == 200 and page["headers"]["content-type"].startswith("text/html")
    assert 'src="console/app.js"' in page["body"]
    assert "connect-src 'self'" in page["headers"]["content-security-policy"]
    assert "script-src 'self';" in page["headers"]["content-security-policy"]  # no inline, no eval
    for name in ("app.js", "api.js", "chart.js", "console.css"):
        assert get(name)["statusCode"] == 200, name


@pytest.mark.parametrize(
    "path", ["../app.py", "app.py", "..%2Fapp.py", "/etc/passwd", "missing.js", "a/b.js"]
)
def test_nothing_else(path: str) -> None:
    assert get(path)["statusCode"] == 404


def test_the_key_lives_in_session_storage_only() -> None:
    source = (ROOT / "functions" / "console" / "static" / "api.js").read_text()
    assert "sessionStorage" in source and "localStorage" not in source
    assert "innerHTML" not in (ROOT / "functions" / "console" / "static" / "app.js").read_text()
