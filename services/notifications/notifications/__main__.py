"""`python -m notifications`: run the notifications service."""
from crmkit.green import patch

patch()

from crmkit.runner import run_service  # noqa: E402
from notifications.service import NotificationsService  # noqa: E402

run_service(NotificationsService)
