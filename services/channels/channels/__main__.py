"""`python -m channels`: run the channels service."""
from crmkit.green import patch

patch()

from channels.service import ChannelsService  # noqa: E402
from crmkit.runner import run_service  # noqa: E402

run_service(ChannelsService)
