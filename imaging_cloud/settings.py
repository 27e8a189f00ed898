"""Typed settings, read from the environment (prefix ``IMAGING_CLOUD_``) by the app factory, never at import."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: Every demo secret starts with this marker; production refuses to start with any of them.
DEMO_SECRET_PREFIX = "demo-insecure-"  # noqa: S105 (a marker that production refuses)


class Settings(BaseSettings):
    """Everything the service needs to run; production mode refuses demo secrets."""

    model_config = SettingsConfigDict(env_prefix="IMAGING_CLOUD_", env_file=None, extra="ignore")

    environment: Literal["development", "production"] = "development"
    data_dir: Path = Path("var")

    public_base_url: str = ""
    """The service's external URL (e.g. ``https://cloud.example``) for RetrieveURL/BulkDataURI; empty: from the
    request."""

    database_url: str = ""
    """SQLAlchemy URL; empty means SQLite at ``<data_dir>/imaging-cloud.sqlite3``."""

    object_store: Literal["local", "s3"] = "local"
    local_store_path: Path | None = None
    """Root of the local object store; empty means ``<data_dir>/objects``."""
    s3_endpoint: str = "127.0.0.1:9000"
    s3_bucket: str = "imaging-cloud"
    s3_access_key: SecretStr = SecretStr("")
    s3_secret_key: SecretStr = SecretStr("")
    s3_secure: bool = False
    s3_region: str | None = None
    s3_server_side_encryption: bool = False

    pseudonym_key: SecretStr = SecretStr(DEMO_SECRET_PREFIX + "pseudonym-key")
    """HMAC key turning a person into the PatientID stored in every object."""
    uid_key: SecretStr = SecretStr(DEMO_SECRET_PREFIX + "uid-key")
    """HMAC key remapping DICOM UIDs to ``2.25.<int>``."""
    index_key: SecretStr = SecretStr(DEMO_SECRET_PREFIX + "index-key")
    """HMAC key for lookup hashes of national IDs, card numbers and local patient ids."""
    encryption_key: SecretStr = SecretStr(DEMO_SECRET_PREFIX + "encryption-key")
    """Key (any length; stretched with HKDF) encrypting the national ID and names at rest."""
    jwt_signing_key_path: Path | None = None
    """PEM private key (RSA or EC P-256); empty in development means a key generated under data_dir."""
    jwt_issuer: str = "imaging-cloud"
    jwt_audience: str = "imaging-cloud"
    access_token_seconds: int = Field(default=900, ge=30, le=86400)
    refresh_token_seconds: int = Field(default=12 * 3600, ge=60, le=30 * 86400)
    """Lifetime of a refresh token; each use rotates it (a new one in the same family, same deadline rule)."""
    break_glass_minutes: int = Field(default=240, ge=5, le=24 * 60)
    """How long a doctor's emergency (break-glass) session lasts before it must be opened again."""
    audit_flag_window_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    """The window (aligned to the epoch) in which the audit flags count bulk access and repeated denials."""
    audit_bulk_patients: int = Field(default=20, ge=1)
    """An actor reading data of more than this many distinct persons in one window is flagged."""
    audit_bulk_studies: int = Field(default=50, ge=1)
    """An actor reading more than this many distinct studies in one window is flagged."""
    audit_repeated_denials: int = Field(default=5, ge=2)
    """An actor refused at least this many times in one window is flagged."""
    audit_office_timezone: str = "Asia/Shanghai"
    """The IANA zone office hours are counted in (staff access outside them is flagged)."""
    audit_office_start: dt.time = dt.time(8, 0)
    audit_office_end: dt.time = dt.time(18, 0)
    """Office hours are ``[start, end)`` local time, Monday to Friday."""
    jwt_previous_public_keys_path: Path | None = None
    """JWKS file of retired public keys still accepted and published (``imaging-cloud keys rotate`` appends to it);
    empty means ``<data_dir>/keys/jwt-previous-keys.json`` (absent: no previous keys)."""

    ehc_issuer: str = ""
    """The trusted electronic-health-card platform's OpenID Connect issuer (``iss``); empty: none trusted."""
    ehc_jwks_path: Path | None = None
    """That issuer's public keys as a JWKS file (refreshed by the deployment); required with ``ehc_issuer``."""
    ehc_audience: str = "imaging-cloud"
    """The ``aud`` the EHC platform puts in ID tokens issued for this service (our OIDC client id)."""

    web_cookie_secure: bool = True
    """Mark the portal's cookies ``Secure``. Browsers accept Secure cookies from http://127.0.0.1 and localhost;
    turn this off only to reach a development server by another plain-HTTP name."""

    max_part_bytes: int = Field(default=512 * 1024 * 1024, ge=1024)
    """Largest single DICOM part accepted by STOW-RS."""
    max_request_bytes: int = Field(default=4 * 1024 * 1024 * 1024, ge=1024)
    """Largest STOW-RS request body."""
    max_report_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    spool_memory_bytes: int = Field(default=4 * 1024 * 1024, ge=0)
    """Parts up to this size stay in memory while spooling; larger ones go to a temp file."""
    spool_request_memory_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    """All parts of one request together keep at most this much in memory; the rest spools to disk."""

    @model_validator(mode="after")
    def _refuse_demo_secrets_in_production(self) -> Settings:
        if self.environment != "production":
            return self
        demo = [
            name
            for name in ("pseudonym_key", "uid_key", "index_key", "encryption_key")
            if getattr(self, name).get_secret_value().startswith(DEMO_SECRET_PREFIX)
        ]
        if self.jwt_signing_key_path is None:
            demo.append("jwt_signing_key_path")
        if demo:
            raise ValueError(
                "production mode refuses demo or missing secrets: set IMAGING_CLOUD_"
                + ", IMAGING_CLOUD_".join(n.upper() for n in demo)
            )
        return self

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'imaging-cloud.sqlite3').resolve()}"

    @property
    def effective_local_store_path(self) -> Path:
        return self.local_store_path or self.data_dir / "objects"

    @property
    def effective_jwt_signing_key_path(self) -> Path:
        return self.jwt_signing_key_path or self.data_dir / "keys" / "demo-jwt-signing.pem"

    @property
    def effective_jwt_previous_public_keys_path(self) -> Path:
        return self.jwt_previous_public_keys_path or self.data_dir / "keys" / "jwt-previous-keys.json"
