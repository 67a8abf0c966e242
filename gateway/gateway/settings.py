"""Settings of the gateway process, read once at start."""
from dataclasses import dataclass

from crmkit.settings import BusSettings, TokenSettings, bus_settings, env, token_settings


@dataclass(frozen=True)
class GatewaySettings:
    host: str
    port: int
    workers: int
    max_body_bytes: int
    max_upload_bytes: int
    access_log: bool
    bus: BusSettings
    tokens: TokenSettings


def load() -> GatewaySettings:
    return GatewaySettings(
        host=env.str("CRM_GATEWAY_HOST", "127.0.0.1"),
        port=env.int("CRM_GATEWAY_PORT", 8000),
        workers=env.int("CRM_GATEWAY_WORKERS", 1),
        max_body_bytes=env.int("CRM_MAX_BODY_BYTES", 1024 * 1024),
        # File uploads (store imports): multipart overhead on top of the 16 MiB file limit.
        max_upload_bytes=env.int("CRM_MAX_UPLOAD_BYTES", 16 * 1024 * 1024 + 64 * 1024),
        access_log=env.bool("CRM_ACCESS_LOG", True),
        bus=bus_settings(),
        tokens=token_settings(),
    )
