"""create_object_store builds and prepares the backend the settings name."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pydantic import SecretStr

from imaging_cloud.settings import Settings
from imaging_cloud.storage.factory import create_object_store
from imaging_cloud.storage.local import LocalObjectStore
from imaging_cloud.storage.protocol import StorageUnavailable
from imaging_cloud.storage.s3 import S3ObjectStore
from tests.conftest import new_bucket_name
from tests.s3_server import S3Server
from tests.storage.test_s3 import closed_port


def test_local_store_defaults_to_objects_under_the_data_dir(tmp_path: Path) -> None:
    store = create_object_store(Settings(data_dir=tmp_path / "var"))

    assert isinstance(store, LocalObjectStore)
    assert store.root == (tmp_path / "var" / "objects").absolute()
    assert store.root.is_dir()


def test_local_store_path_overrides_the_default(tmp_path: Path) -> None:
    store = create_object_store(Settings(data_dir=tmp_path / "var", local_store_path=tmp_path / "elsewhere"))

    store.put("k", io.BytesIO(b"x"))

    assert (tmp_path / "elsewhere" / "k").read_bytes() == b"x"


@pytest.mark.s3
def test_s3_store_is_built_from_settings_with_its_bucket_created(s3_server: S3Server) -> None:
    settings = Settings(
        object_store="s3",
        s3_endpoint=s3_server.endpoint,
        s3_bucket=new_bucket_name(),
        s3_access_key=SecretStr(s3_server.access_key),
        s3_secret_key=SecretStr(s3_server.secret_key),
        s3_server_side_encryption=True,
    )

    store = create_object_store(settings)
    store.put("k", io.BytesIO(b"x"))

    assert isinstance(store, S3ObjectStore)
    assert store.client.bucket_exists(settings.s3_bucket)
    metadata = store.client.stat_object(settings.s3_bucket, "k").metadata or {}
    assert metadata.get("x-amz-server-side-encryption") == "AES256"


@pytest.mark.s3
def test_unreachable_s3_fails_at_creation() -> None:
    settings = Settings(object_store="s3", s3_endpoint=f"127.0.0.1:{closed_port()}", s3_region="us-east-1")

    with pytest.raises(StorageUnavailable):
        create_object_store(settings)
