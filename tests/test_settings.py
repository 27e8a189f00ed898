"""Settings: environment prefix, and production refuses demo or missing secrets."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from imaging_cloud.settings import Settings


def test_environment_variables_use_the_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IMAGING_CLOUD_OBJECT_STORE", "s3")
    monkeypatch.setenv("IMAGING_CLOUD_S3_BUCKET", "films")
    settings = Settings()
    assert (settings.object_store, settings.s3_bucket) == ("s3", "films")


def test_production_refuses_demo_secrets() -> None:
    with pytest.raises(ValidationError) as excinfo:
        Settings(environment="production")
    message = str(excinfo.value)
    for name in ("PSEUDONYM_KEY", "UID_KEY", "INDEX_KEY", "ENCRYPTION_KEY", "JWT_SIGNING_KEY_PATH"):
        assert f"IMAGING_CLOUD_{name}" in message


def test_production_starts_with_real_secrets(tmp_path: Path) -> None:
    settings = Settings(
        environment="production",
        pseudonym_key="p" * 32,
        uid_key="u" * 32,
        index_key="i" * 32,
        encryption_key="e" * 32,
        jwt_signing_key_path=tmp_path / "jwt.pem",
    )
    assert settings.environment == "production"


def test_default_is_embedded_sqlite_and_local_store(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'imaging-cloud.sqlite3').resolve()}"
    assert settings.effective_local_store_path == tmp_path / "objects"
