"""Adapter to the S3-compatible object store (MinIO in production) through the `minio`
client: the private photo bucket. Presigned upload/download URLs come with the photos
feature; this part makes sure the bucket exists, is private, and reports readiness."""
from minio import Minio
from nameko.extensions import DependencyProvider

from crmkit.settings import env, object_store_settings


def photo_bucket() -> str:
    return env.str("CRM_PHOTO_BUCKET", "crm-photos")


def make_client() -> Minio:
    settings = object_store_settings()
    if not settings.endpoint:
        raise RuntimeError("MINIO_ENDPOINT is not set")
    return Minio(settings.endpoint, access_key=settings.access_key,
                 secret_key=settings.secret_key, secure=settings.secure,
                 region=settings.region)


class PhotoStore:
    def __init__(self, client: Minio, bucket: str):
        self.client = client
        self.bucket = bucket

    def ensure_bucket(self) -> None:
        # A new bucket has no policy, so it is private: objects only via presigned URLs.
        if not self.client.bucket_exists(self.bucket):
            self.client.make_bucket(self.bucket)

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
