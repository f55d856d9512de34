"""Geography of a device: ISO 3166-2 regions and great-circle distance.

Regions are checked against pycountry's copy of the ISO 3166-2 subdivision list (Debian's
iso-codes data), pinned in the layer's requirements, so "US-CA" passes and "US-XX" does not.
"""

from __future__ import annotations

import math
from functools import lru_cache

# IUGG mean Earth radius (R1); the haversine on a sphere is within 0.5% of the ellipsoid everywhere.
EARTH_RADIUS_KM = 6371.0088
MAX_RADIUS_KM = 20_000.0  # about half the circumference: a larger circle would hold the whole Earth


@lru_cache(maxsize=1)
def _regions() -> frozenset[str]:
    import pycountry  # 0.1 s to load its tables: only when a region is first checked

    return frozenset(s.code.upper() for s in pycountry.subdivisions)


def is_region(code: str) -> bool:
    """True for an ISO 3166-2 subdivision code such as US-CA, GB-ENG or FR-75C (case-blind)."""
    return code.upper() in _regions()


def country_of(region: str) -> str:
    """The ISO 3166-1 alpha-2 country a subdivision code belongs to (its part before the dash)."""
    return region.split("-", 1)[0].upper()


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance in km between two (lat, lon) points given in degrees."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    half_dphi = (phi2 - phi1) / 2
    half_dlambda = math.radians(lon2 - lon1) / 2
    h = math.sin(half_dphi) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(half_dlambda) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(min(1.0, max(0.0, h))))
