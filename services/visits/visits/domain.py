"""Visit rules with no I/O: who may plan for whom, the visit's life, fraud signals."""
from datetime import datetime

from crmkit.context import Caller
from crmkit.directory import Person
from crmkit.scope import may_assign_to
from visits.geo import distance_m, speed_kmh

# Roles that see their subtree's visits (visits are personal otherwise).
MANAGERS = frozenset({"admin", "vp", "hq_head", "region_manager"})
# Who defines visit types and their detail fields.
TYPE_ADMINS = frozenset({"admin", "hq_head"})

TRANSITIONS = {"check_in": ("planned", "checked_in"), "check_out": ("checked_in", "completed"),
               "cancel": ("planned", "cancelled")}


def planning_problem(caller: Caller, assignee: Person) -> str | None:
    """No skip-level commands: plan your own visits or your direct reports'."""
    if may_assign_to(caller, assignee.user_id, assignee.manager_id):
        return None
    return "you may plan visits only for yourself and your direct reports"


def transition_problem(action: str, status: str) -> str | None:
    source, _ = TRANSITIONS[action]
    if status != source:
        return f"a {status.replace('_', ' ')} visit cannot {action.replace('_', ' ')}"
    return None


def checkin_signals(*, within_radius: bool, distance: float, radius: float,
                    at: datetime, lat: float, lon: float,
                    previous: tuple[datetime, float, float, int] | None,
                    max_speed_kmh: float) -> list[tuple[str, dict]]:
    """Fraud signals of one check-in: outside the radius, or impossible travel since the
    same person's previous check-in `(at, lat, lon, visit_id)`."""
    signals = []
    if not within_radius:
        signals.append(("outside_radius", {"distance_m": round(distance, 1),
                                           "radius_m": radius}))
    if previous is not None:
        prev_at, prev_lat, prev_lon, prev_visit = previous
        meters = distance_m(prev_lat, prev_lon, lat, lon)
        speed = speed_kmh(meters, prev_at, at)
        if speed is not None and speed > max_speed_kmh:
            signals.append(("impossible_speed", {
                "previous_visit_id": prev_visit, "distance_m": round(meters, 1),
                "minutes": round((at - prev_at).total_seconds() / 60, 1),
                "speed_kmh": None if speed == float("inf") else round(speed, 1)}))
    return signals


def photo_signals(*, sha_seen_on: int | None, exif_taken_at: datetime | None,
                  check_in_at: datetime | None, max_skew_s: int) -> list[tuple[str, dict]]:
    signals = []
    if sha_seen_on is not None:
        signals.append(("photo_reused", {"previous_visit_id": sha_seen_on}))
    if exif_taken_at is not None and check_in_at is not None:
        skew = abs((exif_taken_at - check_in_at).total_seconds())
        if skew > max_skew_s:
            signals.append(("photo_time_skew", {"seconds": int(skew),
                                                "exif_taken_at": exif_taken_at.isoformat()}))
    return signals
