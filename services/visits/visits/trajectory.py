"""A person's check-ins of one day, in order, with the legs between them. Visible to the
person and to anyone above them in the management chain."""
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select

from crmkit.database import UnitOfWork
from crmkit.directory import UserDirectory
from crmkit.errors import NotFound, ValidationFailed
from visits.geo import distance_m
from visits.models import Visit
from visits.schemas import TrajectorySchema

schema = TrajectorySchema()


def trajectory(unit: UnitOfWork, people: UserDirectory, user_id: int, query: dict) -> dict:
    caller = unit.caller
    person = people.get(user_id)
    if person is None or not (caller.user_id == user_id or caller.is_admin
                              or caller.user_id in people.managers_of(person)):
        raise NotFound("No such user")
    try:
        zone = ZoneInfo(query["tz"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed("Unknown time zone", {"tz": ["not a known IANA time zone"]}) \
            from None
    start = datetime.combine(query["date"], time(0), zone)
    rows = unit.session.execute(
        select(Visit).where(Visit.user_id == user_id, Visit.check_in_at >= start,
                            Visit.check_in_at < start + timedelta(days=1))
        .order_by(Visit.check_in_at)).scalars().all()
    points, total, previous = [], 0.0, None
    for visit in rows:
        leg = minutes = None
        if previous is not None:
            leg = round(distance_m(previous.check_in_lat, previous.check_in_lon,
                                   visit.check_in_lat, visit.check_in_lon), 1)
            minutes = round((visit.check_in_at - previous.check_in_at).total_seconds() / 60, 1)
            total += leg
        points.append({"visit_id": visit.id, "store_id": visit.store_id,
                       "customer_id": visit.customer_id,
                       "at": visit.check_in_at.astimezone(zone), "lat": visit.check_in_lat,
                       "lon": visit.check_in_lon, "distance_to_store_m": visit.distance_m,
                       "within_radius": visit.within_radius, "meters_from_previous": leg,
                       "minutes_from_previous": minutes})
        previous = visit
    return schema.dump({"user_id": user_id, "date": query["date"], "points": points,
                        "total_m": round(total, 1)})
