"""PhotoStore against a real S3 server (the run's `object_store`: moto's server or MinIO), spoken to
over HTTP by the minio client (the service side) and by httpx (the field app's side)."""
import hashlib
import http.server
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from io import BytesIO
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import urllib3
from minio import Minio
from minio.error import S3Error
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from crmkit.errors import ServiceUnavailable
from crmkit.testing import free_port
from visits.exif import image_format_matches
from visits.storage import ObjectTooLarge, PhotoStore, StoredObject

ACCESS_KEY, SECRET_KEY, REGION = "crm-test", "crm-test-secret", "us-east-1"
MAX_BYTES = 5 * 1024 * 1024


@pytest.fixture(scope="module")
def store(object_store) -> PhotoStore:
    client = Minio(object_store, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False,
                   region=REGION)
    photo_store = PhotoStore(client, f"visits-test-{uuid.uuid4().hex[:12]}")
    photo_store.ensure_bucket()
    return photo_store


def _key() -> str:
    return f"visits/{uuid.uuid4().hex}.jpg"


def _jpeg(size=(64, 48)) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    exif.get_ifd(0x8769).update({0x9003: "2024:05:06 07:08:09", 0x9011: "+08:00"})
    exif.get_ifd(0x8825).update({
        1: "N", 2: (IFDRational(31), IFDRational(13), IFDRational(4944, 100)),
        3: "E", 4: (IFDRational(121), IFDRational(28), IFDRational(2532, 100))})
    out = BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _upload(store: PhotoStore, key: str, data: bytes, content_type="image/jpeg") -> None:
    url = store.presign_put(key, "image/jpeg", 300)
    response = httpx.put(url, content=data, headers={"Content-Type": content_type})
    assert response.status_code == 200, response.text


def _without_signature(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


# --- bucket --------------------------------------------------------------------------------

def test_ensure_bucket_is_idempotent_and_leaves_the_bucket_without_policy(store):
    store.ensure_bucket()
    assert store.client.bucket_exists(store.bucket)
    assert store.ready() is True
    with pytest.raises(S3Error) as caught:
        store.client.get_bucket_policy(store.bucket)
    assert caught.value.code == "NoSuchBucketPolicy"


# --- upload slot and confirm ---------------------------------------------------------------

def test_presigned_put_then_inspect_reports_what_was_stored(store):
    key, data = _key(), _jpeg()
    url = store.presign_put(key, "image/jpeg", 300)
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=300" in url
    response = httpx.put(url, content=data, headers={"Content-Type": "image/jpeg"})
    assert response.status_code == 200, response.text

    stored = store.inspect(key, MAX_BYTES)

    assert isinstance(stored, StoredObject)
    assert stored.size == len(data)
    assert stored.content_type == "image/jpeg"
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert (stored.exif.is_image, stored.exif.format) == (True, "JPEG")
    assert stored.exif.taken_at == datetime(2024, 5, 6, 7, 8, 9,
                                            tzinfo=timezone(timedelta(hours=8)))
    assert stored.exif.lat == pytest.approx(31.230400, abs=1e-6)
    assert stored.exif.lon == pytest.approx(121.473700, abs=1e-6)


def test_presigned_put_does_not_enforce_the_content_type_so_inspect_must_be_checked(store):
    key, data = _key(), _jpeg()
    _upload(store, key, data, content_type="image/png")
    stored = store.inspect(key, MAX_BYTES)
    assert stored.content_type == "image/png"
    assert stored.exif.format == "JPEG"
    assert not image_format_matches(stored.exif.format, stored.content_type)


def test_bytes_that_are_not_an_image_are_reported_as_such(store):
    key, data = _key(), b"definitely not a jpeg" * 100
    _upload(store, key, data)
    stored = store.inspect(key, MAX_BYTES)
    assert (stored.size, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (stored.exif.is_image, stored.exif.format, stored.exif.taken_at) == (False, None, None)


def test_inspect_of_a_missing_key_is_none(store):
    assert store.inspect(_key(), MAX_BYTES) is None


def test_inspect_refuses_an_object_over_the_limit(store):
    key, data = _key(), _jpeg(size=(256, 256))
    _upload(store, key, data)
    with pytest.raises(ObjectTooLarge) as caught:
        store.inspect(key, len(data) - 1)
    assert (caught.value.size, caught.value.max_bytes) == (len(data), len(data) - 1)
    assert store.inspect(key, len(data)).size == len(data)  # exactly at the limit is fine


# --- download, removal, privacy ------------------------------------------------------------

def test_presigned_get_downloads_the_same_bytes(store):
    key, data = _key(), _jpeg()
    _upload(store, key, data)
    url = store.presign_get(key, 60)
    assert "X-Amz-Expires=60" in url
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["content-type"] == "image/jpeg"


def test_remove_deletes_and_ignores_missing_keys(store):
    key = _key()
    _upload(store, key, _jpeg())
    store.remove(key)
    assert store.inspect(key, MAX_BYTES) is None
    store.remove(key)
    store.remove(_key())


def test_anonymous_get_is_refused(store):
    key = _key()
    _upload(store, key, _jpeg())
    signed = store.presign_get(key, 60)
    assert httpx.get(signed).status_code == 200
    assert httpx.get(_without_signature(signed)).status_code == 403


# --- the store being down --------------------------------------------------------------------

def _fast_failing_client(endpoint: str) -> Minio:
    http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1.0, read=2.0),
                               retries=urllib3.Retry(total=0, redirect=False))
    return Minio(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False,
                 region=REGION, http_client=http)


def _assert_unavailable(down: PhotoStore) -> None:
    for call in (lambda: down.inspect(_key(), MAX_BYTES), lambda: down.remove(_key()),
                 down.ensure_bucket, lambda: down.presign_put(_key(), "image/jpeg", 60)):
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            call()
        assert caught.value.message == "The object store is unavailable"
        assert caught.value.code == "service_unavailable"
        assert time.monotonic() - started < 5
    assert down.ready() is False


def test_closed_port_is_service_unavailable():
    down = PhotoStore(_fast_failing_client(f"127.0.0.1:{free_port()}"), "visits-test-down")
    _assert_unavailable(down)
    # Presigning a download is local computation (the region is configured); an upload URL
    # is only issued once the bucket answered (above).
    assert down.presign_get(_key(), 60).startswith("http://127.0.0.1:")


class _BadGateway(http.server.BaseHTTPRequestHandler):
    """What a reverse proxy answers when MinIO behind it is down: 502 with an HTML page."""

    def _answer(self):
        body = b"" if self.command == "HEAD" else b"<html><body>502 Bad Gateway</body></html>"
        self.send_response(502)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body) or 43))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_DELETE = _answer

    def log_message(self, *args):
        pass


def test_proxy_answering_502_is_service_unavailable():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BadGateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"127.0.0.1:{server.server_address[1]}"
        _assert_unavailable(PhotoStore(_fast_failing_client(endpoint), "visits-test-down"))
    finally:
        server.shutdown()
        server.server_close()
