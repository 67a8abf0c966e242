"""`python -m service_tickets`: run the service_tickets service."""
from crmkit.green import patch

patch()

from crmkit.runner import run_service  # noqa: E402
from service_tickets.service import ServiceTicketsService  # noqa: E402

run_service(ServiceTicketsService)
