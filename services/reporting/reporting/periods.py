"""Which month a fact counts in. Months are calendar months in UTC, the way visits counts
target progress, so a report and the service that owns the facts agree. Pure."""
from datetime import UTC, datetime


def month_of(moment: str | datetime) -> str:
    """`YYYY-MM` of an ISO-8601 time (or datetime) taken in UTC; naive times are UTC."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m")


def parse_time(moment: str | None) -> datetime | None:
    if moment is None:
        return None
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
