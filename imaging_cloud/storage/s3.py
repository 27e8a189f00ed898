"""Object store on any S3 service through the MinIO SDK (MinIO, SeaweedFS, AWS S3 and the like).

Puts stream: a source of unknown size goes up as a multipart upload in ``part_size`` pieces, so memory stays
bounded by a few parts, about ``(parallel_uploads + 3) * part_size`` (the parts in flight plus the SDK's copies
of the part being read). S3 itself makes a put atomic: an object is visible only once its upload completes, and
a failed multipart upload is aborted. Reads return the HTTP body as a stream. Not-found answers become
ObjectNotFound; every other S3, HTTP or network failure becomes StorageUnavailable, so the service can answer 503.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from typing import Any, BinaryIO, Final, cast

import urllib3
from minio import Minio
from minio.error import MinioException, S3Error
from minio.sse import SseS3
from urllib3.util import Retry, Timeout

from imaging_cloud.settings import Settings
from imaging_cloud.storage.local import check_key
from imaging_cloud.storage.protocol import ObjectNotFound, StorageUnavailable, StoredObject

logger = logging.getLogger(__name__)

MIB: Final = 1024 * 1024
DEFAULT_PART_BYTES: Final = 16 * MIB
MIN_PART_BYTES: Final = 5 * MIB
"""S3's smallest allowed multipart part (except the last)."""

CONNECT_TIMEOUT_SECONDS: Final = 10.0
READ_TIMEOUT_SECONDS: Final = 300.0
RETRIES: Final = 3
"""Connection-level retries with short backoff (0, 0.4, 0.8 s): an unreachable S3 fails within seconds."""

_NOT_FOUND_CODES: Final = frozenset({"NoSuchKey", "NoSuchObject", "NotFound", "ResourceNotFound"})
_BUCKET_EXISTS_CODES: Final = frozenset({"BucketAlreadyOwnedByYou", "BucketAlreadyExists"})
_TRANSPORT_ERRORS: Final = (MinioException, urllib3.exceptions.HTTPError, OSError)


def create_http_client() -> urllib3.PoolManager:
    """A connection pool with bounded timeouts and few retries (the SDK default waits minutes)."""
    return urllib3.PoolManager(
        timeout=Timeout(connect=CONNECT_TIMEOUT_SECONDS, read=READ_TIMEOUT_SECONDS),
        maxsize=16,
        retries=Retry(total=RETRIES, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def _unavailable(exc: BaseException) -> StorageUnavailable:
    if isinstance(exc, S3Error):
        return StorageUnavailable(f"S3 request failed: {exc.code}")
    return StorageUnavailable(f"S3 unreachable: {type(exc).__name__}")


class S3ObjectStore:
    """One bucket of an S3 service; safe to share between threads (the MinIO client is)."""

    def __init__(
        self,
        client: Minio,
        bucket: str,
        *,
        server_side_encryption: bool = False,
        part_size: int = DEFAULT_PART_BYTES,
        parallel_uploads: int = 2,
    ) -> None:
        if part_size < MIN_PART_BYTES:
            raise ValueError(f"part_size must be at least {MIN_PART_BYTES} bytes")
        if parallel_uploads < 1:
            raise ValueError("parallel_uploads must be at least 1")
        self.client = client
        self.bucket = bucket
        self.part_size = part_size
        self.parallel_uploads = parallel_uploads
        self._sse = SseS3() if server_side_encryption else None

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        """Build the client from ``IMAGING_CLOUD_S3_*``; does no network I/O (see ``ensure_bucket``)."""
        client = Minio(
            settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value() or None,
            secret_key=settings.s3_secret_key.get_secret_value() or None,
            secure=settings.s3_secure,
            region=settings.s3_region,
            http_client=create_http_client(),
        )
        return cls(client, settings.s3_bucket, server_side_encryption=settings.s3_server_side_encryption)

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r})"

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (a concurrent creator winning the race is fine)."""
        try:
            if self.client.bucket_exists(self.bucket):
                return
            self.client.make_bucket(self.bucket)
        except S3Error as exc:
            if exc.code in _BUCKET_EXISTS_CODES:
                return
            raise _unavailable(exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc

    def put(self, key: str, source: BinaryIO, size: int | None = None, content_type: str = "application/dicom") -> int:
        """Stream ``source`` to EOF into ``key``; with ``size`` the source must hold exactly that many bytes.

        Errors raised by ``source`` itself propagate unchanged, and nothing is stored.
        """
        check_key(key)
        reader = _PartReader(source, size)
        if size == 0:
            reader.read(0)  # the SDK reads nothing for an empty object: check the source is empty too
        try:
            self.client.put_object(
                self.bucket,
                key,
                cast(BinaryIO, reader),  # the SDK only ever calls read(n)
                length=-1 if size is None else size,
                content_type=content_type,
                sse=self._sse,
                part_size=self.part_size,
                num_parallel_uploads=self.parallel_uploads,
            )
        except _TRANSPORT_ERRORS as exc:
            if exc is reader.source_error:
                raise
            raise _unavailable(exc) from exc
        return reader.count

    def open(self, key: str) -> BinaryIO:
        check_key(key)
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in _NOT_FOUND_CODES:
                raise ObjectNotFound(key) from None
            raise _unavailable(exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        return io.BufferedReader(_ResponseStream(response), buffer_size=256 * 1024)

    def delete(self, key: str) -> None:
        """S3 DELETE of a missing key succeeds already; nothing to special-case."""
        check_key(key)
        try:
            self.client.remove_object(self.bucket, key)
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc

    def _stat_size(self, key: str) -> int | None:
        """Size, or None when the key is missing.

        A HEAD answer has no body, so a missing bucket looks like a missing key; the bucket is checked before
        saying "not found", lest a misconfigured store report every object gone (and a repair act on that).
        """
        check_key(key)
        try:
            stat = self.client.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code not in _NOT_FOUND_CODES:
                raise _unavailable(exc) from exc
            stat = None
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        if stat is not None:
            return int(stat.size or 0)
        try:
            bucket_exists = self.client.bucket_exists(self.bucket)
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        if not bucket_exists:
            raise StorageUnavailable("S3 request failed: NoSuchBucket")
        return None

    def exists(self, key: str) -> bool:
        return self._stat_size(key) is not None

    def size(self, key: str) -> int:
        size = self._stat_size(key)
        if size is None:
            raise ObjectNotFound(key)
        return size

    def iter(self, prefix: str = "") -> Iterator[StoredObject]:
        """One recursive listing, in the server's order: key order on AWS S3 and MinIO.

        SeaweedFS lists directory by directory instead, which differs from key order only where a key segment
        is followed by a sibling that extends it with a character below '/' (``a/b`` then ``a-c``). Keys from
        ``instance_key`` and ``report_key`` never meet that case; when a listing does, a warning says so.
        """
        previous = ""
        warned = False
        try:
            for item in self.client.list_objects(self.bucket, prefix=prefix or None, recursive=True):
                key = item.object_name
                if item.is_dir or key is None:
                    continue
                if key < previous and not warned:
                    warned = True
                    logger.warning("S3 bucket %s lists objects out of key order", self.bucket)
                previous = key
                yield StoredObject(key=key, size=int(item.size or 0))
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc


class _PartReader:
    """What the SDK reads from: full reads, a byte count, and a check that the source holds exactly ``size``.

    The SDK builds each part by concatenating whatever ``read`` returns; asking the source until ``n`` bytes are
    in hand keeps that linear. A size mismatch is raised from inside ``read``, before the last part is sent,
    so a wrong ``size`` never leaves a truncated object behind.
    """

    def __init__(self, source: BinaryIO, size: int | None) -> None:
        self._source = source
        self._size = size
        self.count = 0
        self.source_error: BaseException | None = None

    def read(self, n: int) -> bytes:
        chunks: list[bytes] = []
        wanted = n
        while wanted > 0:
            chunk = self._read_source(wanted)
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
        data = b"".join(chunks)
        self.count += len(data)
        self._check_size(ended=wanted > 0)
        return data

    def _read_source(self, n: int) -> bytes:
        try:
            return self._source.read(n)
        except BaseException as exc:
            self.source_error = exc
            raise

    def _check_size(self, *, ended: bool) -> None:
        if self._size is None:
            return
        if ended and self.count < self._size:
            self._fail(ValueError(f"source held {self.count} bytes, not the declared {self._size}"))
        if self.count == self._size and self._read_source(1):
            self._fail(ValueError(f"source holds more than the declared {self._size} bytes"))

    def _fail(self, exc: BaseException) -> None:
        self.source_error = exc
        raise exc


class _ResponseStream(io.RawIOBase):
    """An object's HTTP body as a raw stream; closing it closes the response and returns its connection."""

    def __init__(self, response: Any) -> None:
        super().__init__()
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data: bytes = self._response.read(len(view))
        except _TRANSPORT_ERRORS as exc:
            raise _unavailable(exc) from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            try:
                self._response.close()
                self._response.release_conn()
            finally:
                super().close()
