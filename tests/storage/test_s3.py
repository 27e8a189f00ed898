"""What only the S3 backend must prove, against a real SeaweedFS: multipart, SSE-S3, buckets, failures."""

from __future__ import annotations

import io
import socket
from collections.abc import Callable

import pytest
from minio import Minio
from pydantic import SecretStr

from imaging_cloud.settings import Settings
from imaging_cloud.storage.protocol import ObjectNotFound, StorageUnavailable
from imaging_cloud.storage.s3 import MIN_PART_BYTES, S3ObjectStore
from tests.conftest import new_bucket_name
from tests.s3_server import S3Server
from tests.storage.sources import MIB, PatternStream, pattern_digest, stored_digest

pytestmark = pytest.mark.s3

ELEVEN_MIB = 11 * MIB

OPERATIONS: list[tuple[str, Callable[[S3ObjectStore], object]]] = [
    ("put", lambda store: store.put("k/obj", io.BytesIO(b"x"))),
    ("put-unknown-size", lambda store: store.put("k/obj", PatternStream(6 * MIB).as_binary())),
    ("open", lambda store: store.open("k/obj")),
    ("size", lambda store: store.size("k/obj")),
    ("delete", lambda store: store.delete("k/obj")),
    ("iter", lambda store: list(store.iter("k/"))),
]


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("size", [None, ELEVEN_MIB], ids=["unknown-size", "known-size"])
def test_object_larger_than_a_part_goes_up_in_parts(s3_store: S3ObjectStore, size: int | None) -> None:
    s3_store.put("parts", PatternStream(ELEVEN_MIB).as_binary(), size=size)

    stat = s3_store.client.stat_object(s3_store.bucket, "parts")

    assert str(stat.etag).endswith("-3"), "a multipart ETag ends with -<part count>"
    assert stored_digest(s3_store, "parts") == pattern_digest(ELEVEN_MIB)


def test_object_within_one_part_goes_up_in_one_request(s3_store: S3ObjectStore) -> None:
    s3_store.put("single", io.BytesIO(b"x" * 1000), size=1000)

    assert "-" not in str(s3_store.client.stat_object(s3_store.bucket, "single").etag)


def test_content_type_is_stored_with_the_object(s3_store: S3ObjectStore) -> None:
    s3_store.put("a.dcm", io.BytesIO(b"x"))
    s3_store.put("r.pdf", io.BytesIO(b"%PDF"), content_type="application/pdf")

    assert s3_store.client.stat_object(s3_store.bucket, "a.dcm").content_type == "application/dicom"
    assert s3_store.client.stat_object(s3_store.bucket, "r.pdf").content_type == "application/pdf"


@pytest.mark.parametrize("size", [100, ELEVEN_MIB], ids=["single-part", "multipart"])
def test_server_side_encryption_stores_objects_encrypted(s3_server: S3Server, size: int) -> None:
    store = S3ObjectStore(s3_server.client(), new_bucket_name(), server_side_encryption=True, part_size=MIN_PART_BYTES)
    store.ensure_bucket()

    store.put("enc", PatternStream(size).as_binary())

    stat = store.client.stat_object(store.bucket, "enc")
    assert (stat.metadata or {}).get("x-amz-server-side-encryption") == "AES256"
    assert stored_digest(store, "enc") == pattern_digest(size)


def test_without_server_side_encryption_objects_are_not_marked_encrypted(s3_store: S3ObjectStore) -> None:
    s3_store.put("plain", io.BytesIO(b"x"))

    metadata = s3_store.client.stat_object(s3_store.bucket, "plain").metadata or {}

    assert "x-amz-server-side-encryption" not in metadata


def test_ensure_bucket_creates_a_missing_bucket_and_is_idempotent(s3_server: S3Server) -> None:
    store = S3ObjectStore(s3_server.client(), new_bucket_name())
    assert not store.client.bucket_exists(store.bucket)

    store.ensure_bucket()
    store.ensure_bucket()

    assert store.client.bucket_exists(store.bucket)


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_unreachable_endpoint_raises_storage_unavailable(
    name: str, operation: Callable[[S3ObjectStore], object]
) -> None:
    settings = Settings(
        object_store="s3",
        s3_endpoint=f"127.0.0.1:{closed_port()}",
        s3_access_key=SecretStr("key"),
        s3_secret_key=SecretStr("secret"),
        s3_region="us-east-1",
    )
    store = S3ObjectStore.from_settings(settings)

    with pytest.raises(StorageUnavailable):
        operation(store)


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_missing_bucket_raises_storage_unavailable(
    s3_server: S3Server, name: str, operation: Callable[[S3ObjectStore], object]
) -> None:
    store = S3ObjectStore(s3_server.client(), new_bucket_name())

    with pytest.raises(StorageUnavailable):
        operation(store)


@pytest.mark.parametrize(("name", "operation"), OPERATIONS, ids=[name for name, _ in OPERATIONS])
def test_wrong_credentials_raise_storage_unavailable(
    s3_server: S3Server, s3_store: S3ObjectStore, name: str, operation: Callable[[S3ObjectStore], object]
) -> None:
    intruder = Minio(
        s3_server.endpoint,
        access_key=s3_server.access_key,
        secret_key="wrong-secret-key",
        secure=False,
        region=s3_server.region,
    )
    s3_store.put("k/obj", io.BytesIO(b"x"))

    with pytest.raises(StorageUnavailable) as raised:
        operation(S3ObjectStore(intruder, s3_store.bucket))

    assert "wrong-secret-key" not in str(raised.value)


def test_exists_is_false_and_open_raises_not_found_for_a_missing_key(s3_store: S3ObjectStore) -> None:
    assert not s3_store.exists("k/none")
    with pytest.raises(ObjectNotFound):
        s3_store.open("k/none")


def test_part_size_below_the_s3_minimum_is_refused(s3_server: S3Server) -> None:
    with pytest.raises(ValueError):
        S3ObjectStore(s3_server.client(), "any-bucket", part_size=MIN_PART_BYTES - 1)
