"""Pick and prepare the object store the settings name; the one place that knows every backend."""

from __future__ import annotations

from imaging_cloud.settings import Settings
from imaging_cloud.storage.local import LocalObjectStore
from imaging_cloud.storage.protocol import ObjectStore
from imaging_cloud.storage.s3 import S3ObjectStore


def create_object_store(settings: Settings) -> ObjectStore:
    """A ready store: the local root exists, or the S3 bucket exists (created if missing).

    Raises StorageUnavailable when the backend cannot be reached or prepared, so a misconfigured service fails
    at start rather than on its first upload.
    """
    if settings.object_store == "s3":
        store = S3ObjectStore.from_settings(settings)
        store.ensure_bucket()
        return store
    return LocalObjectStore(settings.effective_local_store_path)
