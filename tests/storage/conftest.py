"""Fixtures for the object stores (the SeaweedFS server and ``s3_store`` live in the root conftest)."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_cloud.storage.local import LocalObjectStore
from imaging_cloud.storage.protocol import ObjectStore


@pytest.fixture
def local_store(tmp_path: Path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "objects")


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    """Each backend in turn: the contract tests hold for both."""
    backend: ObjectStore = request.getfixturevalue(f"{request.param}_store")
    return backend
