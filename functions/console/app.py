"""Console function: the marketers' web console, static files served as they are (no build step).

`GET /console` answers the page; `GET /console/{path}` its modules and style sheet. The page signs in a
console user (user name and password, through the API's `POST /v1/console/session`, which asks the
Cognito user pool), keeps the ID token in the tab's sessionStorage and calls the API on the same origin
with it, so its Content-Security-Policy allows nothing but this origin. It never holds an API key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

STATIC = Path(__file__).resolve().parent / "static"
TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
         ".js": "text/javascript; charset=utf-8"}  # fmt: skip
NAME = re.compile(r"^[a-z0-9_-]{1,64}\.(html|css|js)$")
HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    name = (event.get("pathParameters") or {}).get("path") or "index.html"
    path = STATIC / name
    if not NAME.match(name) or not path.is_file():
        return {"statusCode": 404, "headers": {"content-type": "text/plain"}, "body": "not found"}
    return {
        "statusCode": 200,
        "headers": {**HEADERS, "content-type": TYPES[path.suffix]},
        "body": path.read_text(encoding="utf-8"),
    }
