"""Settings of the visits service."""
from dataclasses import dataclass

from crmkit.settings import env


@dataclass(frozen=True)
class VisitSettings:
    radius_m: float
    max_speed_kmh: float
    photo_max_bytes: int
    upload_url_ttl_s: int
    download_url_ttl_s: int
    exif_max_skew_s: int
    default_time_zone: str


def load() -> VisitSettings:
    return VisitSettings(
        radius_m=env.float("CRM_VISIT_RADIUS_M", 300.0),
        # Faster than a high-speed train between two check-ins is not a real trip.
        max_speed_kmh=env.float("CRM_FRAUD_MAX_SPEED_KMH", 300.0),
        photo_max_bytes=env.int("CRM_PHOTO_MAX_BYTES", 10 * 1024 * 1024),
        upload_url_ttl_s=env.int("CRM_PHOTO_UPLOAD_URL_TTL", 300),
        download_url_ttl_s=env.int("CRM_PHOTO_DOWNLOAD_URL_TTL", 300),
        exif_max_skew_s=env.int("CRM_FRAUD_EXIF_MAX_SKEW_S", 3600),
        # EXIF times carry no zone on most cameras: read them in this one.
        default_time_zone=env.str("CRM_DEFAULT_TIME_ZONE", "Asia/Shanghai"),
    )
