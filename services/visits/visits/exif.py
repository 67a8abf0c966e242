"""What a visit photo says about itself: its image format, capture time and GPS position,
read from EXIF with Pillow only. Pure: bytes in, values out, no I/O.

Uploaded bytes come from the field app and cannot be trusted, so nothing here raises on
garbage or malformed EXIF: a value that cannot be read is None and the rest is kept.
"""
import math
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from io import BytesIO

from PIL import Image

# The formats a visit photo may be in. Opening is restricted to them so that arbitrary
# bytes are never handed to the parsers of every format Pillow knows (TGA, for one,
# accepts almost anything). MPO is how Pillow reports the multi-picture JPEGs many phones
# write (its JPEG opener returns them, there is no separate MPO opener); HEIF is only there
# when a plugin (pillow-heif) registered it.
PHOTO_FORMATS = ("JPEG", "MPO", "PNG", "WEBP", "HEIF")

_CONTENT_TYPES = {
    "JPEG": {"image/jpeg"},
    "MPO": {"image/jpeg"},
    "PNG": {"image/png"},
    "WEBP": {"image/webp"},
    "HEIF": {"image/heic", "image/heif"},
    "HEIC": {"image/heic", "image/heif"},
}

EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME = 0x0132
DATETIME_ORIGINAL = 0x9003
OFFSET_TIME = 0x9010
OFFSET_TIME_ORIGINAL = 0x9011
GPS_LATITUDE_REF = 1
GPS_LATITUDE = 2
GPS_LONGITUDE_REF = 3
GPS_LONGITUDE = 4

_DATETIME_FORMATS = ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%dT%H:%M:%S")
_OFFSET = re.compile(r"^([+-])(\d{2}):?(\d{2})$")


@dataclass(frozen=True)
class Exif:
    """taken_at is aware when the photo recorded its UTC offset, naive (camera local time)
    otherwise; lat/lon are signed decimal degrees, both or neither."""

    taken_at: datetime | None
    lat: float | None
    lon: float | None
    is_image: bool
    format: str | None


NOT_AN_IMAGE = Exif(None, None, None, is_image=False, format=None)


def read_exif(data: bytes) -> Exif:
    with warnings.catch_warnings():
        # Pillow warns about every corrupt EXIF entry and about large images (only the
        # header and EXIF are read here, never the pixels); a bad upload is not news.
        warnings.simplefilter("ignore")
        return _read(data)


def _read(data: bytes) -> Exif:
    try:
        image = Image.open(BytesIO(data), formats=_openable_formats())
    except Exception:  # noqa: BLE001 (unidentified, bomb-sized or unparsable: not a photo)
        return NOT_AN_IMAGE
    with image:
        image_format = image.format
        try:
            exif = image.getexif()
        except Exception:  # noqa: BLE001 (a broken EXIF block is no EXIF)
            return Exif(None, None, None, is_image=True, format=image_format)
        taken_at = _taken_at(exif)
        lat, lon = _position(exif)
    return Exif(taken_at, lat, lon, is_image=True, format=image_format)


def image_format_matches(format: str | None, content_type: str | None) -> bool:
    """Whether a Pillow format name is what the declared Content-Type says."""
    if not format or not content_type:
        return False
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type in _CONTENT_TYPES.get(format.upper(), set())


def _openable_formats() -> tuple[str, ...]:
    Image.init()  # registers every built-in plugin once; cheap afterwards
    return tuple(name for name in PHOTO_FORMATS if name in Image.OPEN)


def _ifd(exif: Image.Exif, tag: int) -> dict:
    try:
        ifd = exif.get_ifd(tag)
    except Exception:  # noqa: BLE001
        return {}
    return ifd if isinstance(ifd, dict) else {}


def _taken_at(exif: Image.Exif) -> datetime | None:
    try:
        exif_ifd = _ifd(exif, EXIF_IFD)
        original = _parse_datetime(exif_ifd.get(DATETIME_ORIGINAL))
        if original is not None:
            return _with_offset(original, exif_ifd.get(OFFSET_TIME_ORIGINAL))
        modified = _parse_datetime(exif.get(DATETIME))
        if modified is not None:
            return _with_offset(modified, exif_ifd.get(OFFSET_TIME))
    except Exception:  # noqa: BLE001
        pass
    return None


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    value = value.replace("\x00", "").strip()
    return value or None


def _parse_datetime(value) -> datetime | None:
    text = _text(value)
    if text is None:
        return None
    for fmt in _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _with_offset(value: datetime, offset) -> datetime:
    match = _OFFSET.match(_text(offset) or "")
    if match is None:
        return value
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    if delta >= timedelta(hours=24) or int(minutes) >= 60:
        return value
    return value.replace(tzinfo=timezone(-delta if sign == "-" else delta))


def _position(exif: Image.Exif) -> tuple[float | None, float | None]:
    try:
        gps = _ifd(exif, GPS_IFD)
        lat = _degrees(gps.get(GPS_LATITUDE), gps.get(GPS_LATITUDE_REF), "N", "S", 90)
        lon = _degrees(gps.get(GPS_LONGITUDE), gps.get(GPS_LONGITUDE_REF), "E", "W", 180)
    except Exception:  # noqa: BLE001
        return None, None
    if lat is None or lon is None:
        return None, None
    return lat, lon


def _number(value) -> float:
    # IFDRational and plain numbers convert directly; old writers give (num, den) pairs.
    if isinstance(value, tuple) and len(value) == 2:
        return float(value[0]) / float(value[1])
    if isinstance(value, (str, bytes)):  # float("31.2") works, but text is not a rational
        raise TypeError("not a number")
    return float(value)


def _degrees(value, ref, positive: str, negative: str, limit: float) -> float | None:
    if value is None:
        return None
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    try:
        numbers = [_number(part) for part in parts]
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    if any(not math.isfinite(n) or n < 0 for n in numbers):
        return None
    if any(n > 60 for n in numbers[1:]):
        return None
    degrees = sum(n / 60**i for i, n in enumerate(numbers))
    if degrees > limit:
        return None
    # Without its reference the hemisphere is a guess: better no position than a wrong one.
    ref_text = (_text(ref) or "").upper()
    if ref_text == negative:
        return -degrees
    if ref_text == positive:
        return degrees
    return None
