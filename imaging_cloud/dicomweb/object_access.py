"""Reading stored objects for the read side: streamed in chunks, or made seekable (spooled) for pydicom.

A missing object behind an index row, or a failing backend, is a 503 with its own code (nothing half-served
before the response starts); ``imaging-cloud fsck`` finds and repairs such disagreements.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from imaging_cloud.errors import ServiceUnavailable
from imaging_cloud.storage.protocol import ObjectNotFound, ObjectStore, StorageUnavailable

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1024 * 1024
#: Objects read through a non-seekable backend (S3) stay in memory up to this size, then spill to disk.
SPOOL_MEMORY_BYTES = 16 * 1024 * 1024


def open_object(store: ObjectStore, key: str) -> BinaryIO:
    """Open ``key`` for reading, mapping store failures to 503."""
    try:
        return store.open(key)
    except ObjectNotFound:
        logger.error("an indexed object is missing from the store; run `imaging-cloud fsck`")
        raise ServiceUnavailable("a stored object is missing", code="object-missing") from None
    except StorageUnavailable:
        raise ServiceUnavailable("the object store is unavailable", code="storage-unavailable") from None


def iter_chunks(handle: BinaryIO, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield ``handle`` in chunks and close it, however the iteration ends."""
    try:
        while chunk := handle.read(chunk_size):
            yield chunk
    finally:
        handle.close()


def iter_object(store: ObjectStore, key: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The object's bytes in chunks, opened only when iteration starts (one object in memory at most a chunk)."""
    yield from iter_chunks(open_object(store, key), chunk_size)


@contextmanager
def seekable_object(store: ObjectStore, key: str) -> Iterator[BinaryIO]:
    """The object as a seekable file: the backend's own if it can seek, else a bounded spool."""
    handle = open_object(store, key)
    try:
        if handle.seekable():
            yield handle
            return
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES, prefix="wado-") as spool:
            shutil.copyfileobj(handle, spool, CHUNK_SIZE)
            handle.close()
            spool.seek(0)
            yield spool  # type: ignore[misc]
    finally:
        handle.close()
