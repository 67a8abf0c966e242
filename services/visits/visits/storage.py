"""Adapter to the S3-compatible object store (MinIO in production) through the `minio`
client: the private photo bucket. Clients upload and download photo bytes directly with
short-lived presigned URLs; the service only stats and reads an object when an upload is
confirmed. The bucket has no policy, so nothing in it is reachable without a signature."""
import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError
from nameko.extensions import DependencyProvider

from crmkit.errors import ServiceUnavailable
from crmkit.settings import env, object_store_settings
from visits.exif import Exif, read_exif

MISSING_CODES = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
UNAVAILABLE_MESSAGE = "The object store is unavailable"
_CHUNK = 64 * 1024


def photo_bucket() -> str:
    return env.str("CRM_PHOTO_BUCKET", "crm-photos")


def make_client() -> Minio:
    settings = object_store_settings()
    if not settings.endpoint:
        raise RuntimeError("MINIO_ENDPOINT is not set")
    # minio's default client retries 5 times and waits minutes on a dead host: far longer
    # than the caller's RPC timeout. Fail within seconds instead (503 to the client).
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=2, read=15), maxsize=10,
        retries=urllib3.Retry(total=2, backoff_factor=0.1,
                              status_forcelist=(500, 502, 503, 504)))
    return Minio(settings.endpoint, access_key=settings.access_key,
                 secret_key=settings.secret_key, secure=settings.secure,
                 region=settings.region, http_client=http)


class ObjectTooLarge(Exception):
    """The stored object is larger than the caller accepts; it was not downloaded."""

    def __init__(self, size: int, max_bytes: int):
        self.size = size
        self.max_bytes = max_bytes
        super().__init__(f"object of {size} bytes exceeds the limit of {max_bytes}")


@dataclass(frozen=True)
class StoredObject:
    """What was actually stored under a key: size, Content-Type and sha256 (hex) of the
    bytes read, and what those bytes say about themselves."""

    size: int
    content_type: str | None
    sha256: str
    exif: Exif


def _is_missing(exc: S3Error) -> bool:
    if exc.code in MISSING_CODES:
        return True
    return exc.code != "NoSuchBucket" and getattr(exc.response, "status", None) == 404


def _is_transport_failure(exc: Exception) -> bool:
    if isinstance(exc, S3Error):  # a well-formed S3 error answer, e.g. SlowDown, InternalError
        return (getattr(exc.response, "status", 0) or 0) >= 500
    return isinstance(exc, (urllib3.exceptions.HTTPError, ServerError, InvalidResponseError,
                            OSError))


@contextmanager
def _store_errors():
    """A transport failure (connection refused, timeout, 5xx, a non-S3 answer from a proxy)
    becomes ServiceUnavailable; anything else (AccessDenied, NoSuchBucket, a bad argument)
    is a fault and passes as it is."""
    try:
        yield
    except (ServiceUnavailable, ObjectTooLarge):
        raise
    except Exception as exc:
        if _is_transport_failure(exc):
            raise ServiceUnavailable(UNAVAILABLE_MESSAGE) from exc
        raise


class PhotoStore:
    def __init__(self, client: Minio, bucket: str):
        self.client = client
        self.bucket = bucket

    def presign_put(self, key: str, content_type: str, expires_s: int) -> str:
        """A URL the client PUTs the photo bytes to, valid for expires_s seconds. The client
        must send `Content-Type: content_type`; minio's query-string presigning does not
        sign that header, so the store does not enforce it: `inspect` reports what was
        stored and the caller compares."""
        del content_type  # part of the contract with the client, checked on confirm
        # Presigning is local arithmetic; a URL is only worth issuing if the store can take
        # the upload. One HEAD of the bucket makes an unreachable store a 503 now rather
        # than a failed PUT later, and remakes the bucket of a new or wiped store.
        self.ensure_bucket()
        with _store_errors():
            return self.client.presigned_put_object(self.bucket, key,
                                                    expires=timedelta(seconds=expires_s))

    def presign_get(self, key: str, expires_s: int) -> str:
        with _store_errors():
            return self.client.presigned_get_object(self.bucket, key,
                                                    expires=timedelta(seconds=expires_s))

    def inspect(self, key: str, max_bytes: int) -> StoredObject | None:
        """Stat the object, refuse it (ObjectTooLarge) above max_bytes before downloading,
        then read it once: sha256 and EXIF of the bytes read. None if there is no object.

        Size and Content-Type are those of the GET that delivered the bytes, so they
        describe the hashed bytes even if the object was overwritten after the stat; the
        read stops (ObjectTooLarge) as soon as it passes max_bytes."""
        with _store_errors():
            try:
                stat = self.client.stat_object(self.bucket, key)
            except S3Error as exc:
                if _is_missing(exc):
                    return None
                raise
        if stat.size is not None and stat.size > max_bytes:
            raise ObjectTooLarge(stat.size, max_bytes)
        fetched = self._read(key, max_bytes)
        if fetched is None:
            return None
        data, content_type, digest = fetched
        return StoredObject(size=len(data), content_type=content_type, sha256=digest,
                            exif=read_exif(data))

    def remove(self, key: str) -> None:
        """Delete the object; a key that is already gone is not an error."""
        with _store_errors():
            try:
                self.client.remove_object(self.bucket, key)
            except S3Error as exc:
                if not _is_missing(exc):
                    raise

    def ensure_bucket(self) -> None:
        # A new bucket has no policy, so it is private: objects only via presigned URLs.
        with _store_errors():
            if not self.client.bucket_exists(self.bucket):
                self.client.make_bucket(self.bucket)

    def _read(self, key: str, max_bytes: int) -> tuple[bytes, str | None, str] | None:
        response = None
        with _store_errors():
            try:
                response = self.client.get_object(self.bucket, key)
                declared = response.headers.get("Content-Length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise ObjectTooLarge(int(declared), max_bytes)
                digest = hashlib.sha256()
                data = bytearray()
                for chunk in response.stream(_CHUNK):
                    digest.update(chunk)
                    data += chunk
                    if len(data) > max_bytes:
                        raise ObjectTooLarge(len(data), max_bytes)
                return bytes(data), response.headers.get("Content-Type"), digest.hexdigest()
            except S3Error as exc:
                if _is_missing(exc):  # removed between the stat and the read
                    return None
                raise
            finally:
                if response is not None:
                    response.close()
                    response.release_conn()

    def ready(self) -> bool:
        try:
            return self.client.bucket_exists(self.bucket)
        except Exception:  # noqa: BLE001 (readiness reports, it does not raise)
            return False


class PhotoStorage(DependencyProvider):
    def setup(self):
        self.store = PhotoStore(make_client(), photo_bucket())

    def start(self):
        try:
            self.store.ensure_bucket()
        except Exception:  # noqa: BLE001 (the store may come up later; /readyz shows it)
            pass

    def get_dependency(self, worker_ctx) -> PhotoStore:
        return self.store
