"""`python -m reporting`: run the reporting service."""
from crmkit.green import patch

patch()

from crmkit.runner import run_service  # noqa: E402
from reporting.service import ReportingService  # noqa: E402

run_service(ReportingService)
