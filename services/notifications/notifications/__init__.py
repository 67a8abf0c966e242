"""notifications: inbox, schedules, reminders, delivery log, webhook subscriptions."""
