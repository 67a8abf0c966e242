"""Distances and speeds on the earth's surface (pure)."""
import math
from datetime import datetime

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), good to well under 0.5% at visit scales."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def speed_kmh(meters: float, start: datetime, end: datetime) -> float | None:
    """Average speed between two fixes; None when no time passed."""
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        return None if meters < 1 else math.inf
    return meters / seconds * 3.6
