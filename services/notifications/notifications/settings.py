"""Settings of the notifications service."""
from dataclasses import dataclass

from crmkit.settings import env


@dataclass(frozen=True)
class NotificationSettings:
    tick_s: float
    push_day: int
    time_zone: str


def load() -> NotificationSettings:
    push_day = env.int("CRM_INSPECTION_PUSH_DAY", 25)
    if not 1 <= push_day <= 28:
        raise ValueError("CRM_INSPECTION_PUSH_DAY must be 1..28 (every month has it)")
    return NotificationSettings(
        tick_s=env.float("CRM_SCHEDULER_TICK_S", 5.0),
        push_day=push_day,
        time_zone=env.str("CRM_DEFAULT_TIME_ZONE", "Asia/Shanghai"),
    )
