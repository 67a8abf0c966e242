"""`python -m accounts`: run the accounts service."""
from crmkit.green import patch

patch()

from accounts.service import AccountsService  # noqa: E402
from crmkit.runner import run_service  # noqa: E402

run_service(AccountsService)
