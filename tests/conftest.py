"""Fixtures of the deployment-file tests."""
import importlib

import pytest

from crmkit import settings as kit_settings


@pytest.fixture(scope="session")
def variables_read() -> set[str]:
    """Every CRM_/MINIO_ variable the code reads: each process's settings functions are
    called and environs' record of what it parsed is collected."""
    for name in ("accounts.settings", "gateway.settings", "notifications.settings"):
        importlib.import_module(name).load()
    kit_settings.database_settings("accounts")
    kit_settings.object_store_settings()
    kit_settings.token_settings()
    kit_settings.bus_settings()
    kit_settings.log_level()
    importlib.import_module("accounts.settings").bootstrap_admin_password()
    importlib.import_module("visits.storage").photo_bucket()
    importlib.import_module("service_tickets.grpc_server").grpc_settings()
    importlib.import_module("service_tickets.settings").ticket_settings.__wrapped__()
    importlib.import_module("crmkit.probes").probe_port()
    return set(kit_settings.env.dump())
