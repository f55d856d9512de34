"""The local API's CORS rules follow API Gateway's HttpApi CorsConfiguration."""

from __future__ import annotations

import pytest

from samlocal.api import Cors

pytestmark = pytest.mark.unit

SITE = "https://shop.example.com"


def test_no_configuration_means_no_cors() -> None:
    assert Cors.from_config(None) is None and Cors.from_config(True) is None


def test_listed_origins_are_echoed_and_others_get_nothing() -> None:
    cors = Cors.from_config({"AllowOrigins": [SITE], "AllowMethods": ["get", "POST"],
                             "AllowHeaders": ["Authorization"], "MaxAge": 600})  # fmt: skip
    assert cors is not None
    assert cors.headers(SITE, preflight=True) == [
        ("access-control-allow-origin", SITE), ("vary", "origin"), ("access-control-allow-methods", "GET,POST"),
        ("access-control-allow-headers", "authorization"), ("access-control-max-age", "600")]  # fmt: skip
    assert cors.headers(SITE, preflight=False) == [("access-control-allow-origin", SITE), ("vary", "origin")]
    assert cors.headers("https://evil.example", preflight=True) == []
    assert cors.headers(None, preflight=False) == []


def test_any_origin_is_a_star_unless_credentials_are_allowed() -> None:
    star = Cors.from_config({"AllowOrigins": ["*"]})
    assert star is not None and star.headers(SITE, preflight=False) == [("access-control-allow-origin", "*")]
    with_credentials = Cors.from_config({"AllowOrigins": ["*", SITE], "AllowCredentials": True})
    assert with_credentials is not None
    assert with_credentials.headers(SITE, preflight=False) == [
        ("access-control-allow-origin", SITE), ("vary", "origin"), ("access-control-allow-credentials", "true")]  # fmt: skip
