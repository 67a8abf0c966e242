"""Reading capture time, position and format from photo bytes built in memory."""
import os
import struct
import zlib
from datetime import datetime, timedelta, timezone
from io import BytesIO

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from visits.exif import NOT_AN_IMAGE, Exif, image_format_matches, read_exif

EXIF_IFD, GPS_IFD = 0x8769, 0x8825
MAKE, DATETIME, DATETIME_ORIGINAL, OFFSET_TIME, OFFSET_TIME_ORIGINAL = (
    0x010F, 0x0132, 0x9003, 0x9010, 0x9011)


def rational(value, denominator=1):
    return IFDRational(value, denominator)


def dms(degrees, minutes, seconds_num, seconds_den=1):
    return (rational(degrees), rational(minutes), rational(seconds_num, seconds_den))


def make_exif(ifd0=None, exif_ifd=None, gps=None) -> Image.Exif:
    exif = Image.Exif()
    # An Exif with an empty IFD0 is falsy, and some encoders (PNG, MPO) then skip it.
    exif[MAKE] = "TestCam"
    for tag, value in (ifd0 or {}).items():
        exif[tag] = value
    if exif_ifd:
        exif.get_ifd(EXIF_IFD).update(exif_ifd)
    if gps:
        exif.get_ifd(GPS_IFD).update(gps)
    return exif


def image_bytes(fmt="JPEG", exif: Image.Exif | None = None, size=(32, 24), **params) -> bytes:
    out = BytesIO()
    image = Image.new("RGB", size, (200, 120, 40))
    if exif is not None:
        params["exif"] = exif
    image.save(out, fmt, **params)
    return out.getvalue()


SYDNEY_GPS = {1: "S", 2: dms(33, 51, 5424, 100), 3: "E", 4: dms(151, 12, 30)}
LIMA_GPS = {1: "S", 2: dms(12, 2, 36), 3: "W", 4: dms(77, 1, 48)}
SHANGHAI_GPS = {1: "N", 2: dms(31, 13, 49), 3: "E", 4: dms(121, 28, 25)}


# --- capture time ------------------------------------------------------------------------

def test_date_time_original_with_its_offset_is_aware():
    data = image_bytes(exif=make_exif(
        ifd0={DATETIME: "2024:01:01 00:00:00"},
        exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09", OFFSET_TIME_ORIGINAL: "+08:00"}))
    exif = read_exif(data)
    assert exif.taken_at == datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone(timedelta(hours=8)))
    assert exif.taken_at.utcoffset() == timedelta(hours=8)
    assert (exif.is_image, exif.format) == (True, "JPEG")


def test_negative_offset():
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2023:12:31 23:59:59",
                                                OFFSET_TIME_ORIGINAL: "-05:30"}))
    assert read_exif(data).taken_at == datetime(
        2023, 12, 31, 23, 59, 59, tzinfo=timezone(-timedelta(hours=5, minutes=30)))


def test_without_offset_the_time_is_naive():
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"}))
    taken_at = read_exif(data).taken_at
    assert taken_at == datetime(2024, 5, 6, 7, 8, 9)
    assert taken_at.tzinfo is None


def test_falls_back_to_date_time_with_its_own_offset():
    data = image_bytes(exif=make_exif(
        ifd0={DATETIME: "2022:02:03 04:05:06"},
        exif_ifd={OFFSET_TIME: "+09:00", OFFSET_TIME_ORIGINAL: "+01:00"}))
    assert read_exif(data).taken_at == datetime(2022, 2, 3, 4, 5, 6,
                                                tzinfo=timezone(timedelta(hours=9)))


def test_unreadable_original_falls_back_to_date_time():
    data = image_bytes(exif=make_exif(ifd0={DATETIME: "2022:02:03 04:05:06"},
                                      exif_ifd={DATETIME_ORIGINAL: "0000:00:00 00:00:00"}))
    assert read_exif(data).taken_at == datetime(2022, 2, 3, 4, 5, 6)


@pytest.mark.parametrize("value", ["", "    :  :     :  :  ", "yesterday", "2024:13:45 25:61:00"])
def test_malformed_times_are_none(value):
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: value}, gps=SHANGHAI_GPS))
    exif = read_exif(data)
    assert exif.taken_at is None
    assert (exif.lat, exif.lon) == pytest.approx((31.230278, 121.473611))


@pytest.mark.parametrize("offset", ["bogus", "+25:00", "+08:75", "   :  "])
def test_malformed_offset_leaves_the_time_naive(offset):
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09",
                                                OFFSET_TIME_ORIGINAL: offset}))
    assert read_exif(data).taken_at == datetime(2024, 5, 6, 7, 8, 9)


# --- position ----------------------------------------------------------------------------

def test_south_and_west_refs_give_negative_degrees():
    exif = read_exif(image_bytes(exif=make_exif(gps=LIMA_GPS)))
    assert exif.lat == pytest.approx(-(12 + 2 / 60 + 36 / 3600))
    assert exif.lon == pytest.approx(-(77 + 1 / 60 + 48 / 3600))
    assert exif.taken_at is None


def test_fractional_seconds():
    exif = read_exif(image_bytes(exif=make_exif(gps=SYDNEY_GPS)))
    assert exif.lat == pytest.approx(-33.865067, abs=1e-6)
    assert exif.lon == pytest.approx(151.208333, abs=1e-6)


def test_north_east_and_time_together():
    exif = read_exif(image_bytes(exif=make_exif(
        exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09", OFFSET_TIME_ORIGINAL: "+08:00"},
        gps=SHANGHAI_GPS)))
    assert exif.lat > 0 and exif.lon > 0
    assert exif.taken_at.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("gps", [
    pytest.param({**SHANGHAI_GPS, 2: dms(31, 13, 49, 0)}, id="zero-denominator"),
    pytest.param({**SHANGHAI_GPS, 2: dms(91, 0, 0)}, id="latitude-over-90"),
    pytest.param({**SHANGHAI_GPS, 4: dms(181, 0, 0)}, id="longitude-over-180"),
    pytest.param({**SHANGHAI_GPS, 2: dms(31, 75, 0)}, id="minutes-over-60"),
    pytest.param({**SHANGHAI_GPS, 2: (rational(1), rational(2), rational(3), rational(4))},
                 id="four-components"),
    pytest.param({**SHANGHAI_GPS, 1: "X"}, id="unknown-ref"),
    pytest.param({2: SHANGHAI_GPS[2], 3: "E", 4: SHANGHAI_GPS[4]}, id="missing-latitude-ref"),
    pytest.param({1: "N", 2: SHANGHAI_GPS[2]}, id="latitude-only"),
    pytest.param({1: "N", 3: "E"}, id="refs-only"),
])
def test_malformed_gps_gives_no_position_and_keeps_the_time(gps):
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"},
                                      gps=gps))
    exif = read_exif(data)
    assert (exif.lat, exif.lon) == (None, None)
    assert exif.taken_at == datetime(2024, 5, 6, 7, 8, 9)
    assert exif.is_image


ASCII, SHORT, LONG, RATIONAL = 2, 3, 4, 5


def jpeg_with_raw_gps(entries, gps_offset=None) -> bytes:
    """A JPEG whose EXIF is written by hand: an IFD0 that points to a GPS IFD holding the
    given (tag, type, count, payload) entries, whatever types they claim."""
    own_offset = 8 + 2 + 12 + 4
    data_offset = own_offset + 2 + 12 * len(entries) + 4
    ifd, data = struct.pack("<H", len(entries)), b""
    for tag, kind, count, payload in entries:
        if len(payload) <= 4:
            ifd += struct.pack("<HHI", tag, kind, count) + payload.ljust(4, b"\x00")
        else:
            ifd += struct.pack("<HHII", tag, kind, count, data_offset + len(data))
            data += payload + b"\x00" * (len(payload) % 2)
    ifd += struct.pack("<I", 0)
    pointer = own_offset if gps_offset is None else gps_offset
    tiff = (b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1)
            + struct.pack("<HHII", GPS_IFD, LONG, 1, pointer) + struct.pack("<I", 0)
            + ifd + data)
    app1 = b"Exif\x00\x00" + tiff
    jpeg = image_bytes()
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]


def rationals(*pairs) -> bytes:
    return b"".join(struct.pack("<II", num, den) for num, den in pairs)


GOOD_LONGITUDE = [(3, ASCII, 2, b"E\x00"), (4, RATIONAL, 3, rationals((121, 1), (28, 1), (25, 1)))]


@pytest.mark.parametrize("latitude", [
    pytest.param([(1, ASCII, 2, b"N\x00"), (2, ASCII, 5, b"31.2\x00")], id="text-latitude"),
    pytest.param([(1, ASCII, 2, b"N\x00"), (2, RATIONAL, 3, rationals((31, 0), (0, 0), (0, 0)))],
                 id="all-zero-denominators"),
    pytest.param([(1, SHORT, 1, struct.pack("<H", 78)), (2, RATIONAL, 3,
                                                         rationals((31, 1), (13, 1), (49, 1)))],
                 id="numeric-ref"),
    pytest.param([(1, ASCII, 2, b"N\x00"), (2, RATIONAL, 3, b"\x01\x00")], id="short-payload"),
])
def test_hand_written_malformed_gps_values(latitude):
    exif = read_exif(jpeg_with_raw_gps(latitude + GOOD_LONGITUDE))
    assert (exif.lat, exif.lon, exif.is_image, exif.format) == (None, None, True, "JPEG")


def test_hand_written_gps_with_plain_integers_is_read():
    entries = [(1, ASCII, 2, b"S\x00"), (2, SHORT, 3, struct.pack("<HHH", 31, 13, 49))]
    exif = read_exif(jpeg_with_raw_gps(entries + GOOD_LONGITUDE))
    assert (exif.lat, exif.lon) == pytest.approx((-31.230278, 121.473611))


def test_gps_pointer_outside_the_exif_block():
    exif = read_exif(jpeg_with_raw_gps(GOOD_LONGITUDE, gps_offset=0xFFFF))
    assert (exif.lat, exif.lon, exif.is_image) == (None, None, True)


def test_single_decimal_degree_value_is_accepted():
    gps = {1: "N", 2: (rational(312304, 10000),), 3: "W", 4: (rational(1214737, 10000),)}
    exif = read_exif(image_bytes(exif=make_exif(gps=gps)))
    assert (exif.lat, exif.lon) == pytest.approx((31.2304, -121.4737))


# --- formats and bytes that are not photos ------------------------------------------------

def test_jpeg_without_exif():
    assert read_exif(image_bytes()) == Exif(None, None, None, is_image=True, format="JPEG")


def test_png():
    assert read_exif(image_bytes("PNG")) == Exif(None, None, None, is_image=True, format="PNG")


def test_png_with_exif_chunk():
    data = image_bytes("PNG", exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"},
                                             gps=LIMA_GPS))
    exif = read_exif(data)
    assert (exif.format, exif.taken_at) == ("PNG", datetime(2024, 5, 6, 7, 8, 9))
    assert exif.lat < 0 and exif.lon < 0


def test_multi_picture_jpeg_is_reported_as_mpo_and_matches_image_jpeg():
    out = BytesIO()
    first, second = Image.new("RGB", (16, 16), "red"), Image.new("RGB", (8, 8), "blue")
    first.save(out, "MPO", save_all=True, append_images=[second],
               exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"}))
    exif = read_exif(out.getvalue())
    assert (exif.format, exif.taken_at) == ("MPO", datetime(2024, 5, 6, 7, 8, 9))
    assert image_format_matches(exif.format, "image/jpeg")


@pytest.mark.parametrize("data", [
    b"",
    b"garbage, not a photo at all" * 10,
    os.urandom(4096),
    b"\xff\xd8\xff",  # a JPEG start and nothing else
    b"%PDF-1.7\n" + b"0" * 100,
])
def test_garbage_is_not_an_image(data):
    assert read_exif(data) == NOT_AN_IMAGE


def test_other_image_formats_are_not_photos():
    assert read_exif(image_bytes("GIF")) == NOT_AN_IMAGE
    assert read_exif(image_bytes("BMP")) == NOT_AN_IMAGE


def test_jpeg_truncated_inside_its_headers_is_not_an_image():
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"},
                                      gps=SHANGHAI_GPS))
    for length in (2, 20, 100, 200):
        assert read_exif(data[:length]) == NOT_AN_IMAGE


def test_jpeg_truncated_in_its_pixels_still_gives_its_exif():
    data = image_bytes(exif=make_exif(exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"},
                                      gps=SHANGHAI_GPS), size=(256, 256))
    exif = read_exif(data[: len(data) * 2 // 3])
    assert (exif.is_image, exif.format) == (True, "JPEG")
    assert exif.taken_at == datetime(2024, 5, 6, 7, 8, 9)
    assert exif.lat == pytest.approx(31.230278, abs=1e-6)


def test_corrupted_exif_block_does_not_raise():
    data = bytearray(image_bytes(exif=make_exif(
        exif_ifd={DATETIME_ORIGINAL: "2024:05:06 07:08:09"}, gps=SHANGHAI_GPS)))
    start = data.index(b"Exif\x00\x00") + 6
    for offset in range(start + 8, start + 120, 3):  # trample over the IFD entries
        broken = bytearray(data)
        broken[offset:offset + 4] = b"\xff\xff\xff\x7f"
        exif = read_exif(bytes(broken))
        assert isinstance(exif, Exif)
        assert exif.is_image


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def test_decompression_bomb_header_is_not_an_image():
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    assert read_exif(data) == NOT_AN_IMAGE


# --- format against declared content type -------------------------------------------------

@pytest.mark.parametrize("fmt, content_type, expected", [
    ("JPEG", "image/jpeg", True),
    ("JPEG", "IMAGE/JPEG; charset=binary", True),
    ("MPO", "image/jpeg", True),
    ("PNG", "image/png", True),
    ("WEBP", "image/webp", True),
    ("HEIF", "image/heic", True),
    ("JPEG", "image/png", False),
    ("PNG", "image/jpeg", False),
    ("WEBP", "image/jpeg", False),
    ("GIF", "image/gif", False),
    (None, "image/jpeg", False),
    ("JPEG", None, False),
    ("JPEG", "", False),
])
def test_image_format_matches(fmt, content_type, expected):
    assert image_format_matches(fmt, content_type) is expected


def test_webp_matches_when_pillow_can_write_it():
    from PIL import features
    if not features.check("webp"):
        pytest.skip("Pillow built without WebP")
    exif = read_exif(image_bytes("WEBP"))
    assert exif.format == "WEBP"
    assert image_format_matches(exif.format, "image/webp")
