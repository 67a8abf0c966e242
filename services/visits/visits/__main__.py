"""`python -m visits`: run the visits service."""
from crmkit.green import patch

patch()

from crmkit.runner import run_service  # noqa: E402
from visits.service import VisitsService  # noqa: E402

run_service(VisitsService)
