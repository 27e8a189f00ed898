"""What one running service holds: settings, engine, object store, keys and token machinery.

Built once by ``create_app`` from a ``Settings`` object and reached by routes through ``get_runtime``; nothing
here is created at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from auth.tokens import SigningKey, TokenIssuer, TokenVerifier, load_or_create_signing_key
from imaging_cloud.db.base import create_db_engine
from imaging_cloud.db.unit_of_work import UnitOfWorkFactory
from imaging_cloud.ingest.service import Ingestor
from imaging_cloud.keys import KeyRing
from imaging_cloud.sessions.signing_keys import load_previous_keys, published_keys
from imaging_cloud.sessions.trust import EhcTrust, dev_ehc_key_path
from imaging_cloud.settings import Settings
from imaging_cloud.storage.factory import create_object_store
from imaging_cloud.storage.protocol import ObjectStore
from imaging_cloud.studies.repository import object_key_indexed


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    units: UnitOfWorkFactory
    store: ObjectStore
    keys: KeyRing
    signing_key: SigningKey
    issuer: TokenIssuer
    verifier: TokenVerifier
    ingestor: Ingestor
    previous_keys: tuple[dict[str, Any], ...] = ()
    """Retired signing keys (public JWKs) still accepted and published: the overlap of a key rotation."""
    ehc: EhcTrust = field(default_factory=lambda: EhcTrust({}))
    """The EHC issuers whose ID tokens sign patients in."""
    dev_ehc_key: SigningKey | None = None
    """The development EHC issuer's key; ``None`` (issuer absent) in production."""

    @classmethod
    def build(cls, settings: Settings, *, engine: Engine | None = None, store: ObjectStore | None = None) -> Runtime:
        engine = engine or create_db_engine(settings.effective_database_url)
        sessions = sessionmaker(engine, expire_on_commit=False)
        store = store or create_object_store(settings)
        units = UnitOfWorkFactory(sessions, store, object_key_indexed)
        keys = KeyRing.from_settings(settings)
        development = settings.environment == "development"
        signing_key = load_or_create_signing_key(settings.effective_jwt_signing_key_path, create=development)
        previous_keys = tuple(load_previous_keys(settings.effective_jwt_previous_public_keys_path))
        dev_ehc_key = load_or_create_signing_key(dev_ehc_key_path(settings), create=True) if development else None
        published = published_keys(signing_key, previous_keys)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            units=units,
            store=store,
            keys=keys,
            signing_key=signing_key,
            issuer=TokenIssuer(signing_key, issuer=settings.jwt_issuer, audience=settings.jwt_audience),
            verifier=TokenVerifier(published, issuer=settings.jwt_issuer, audience=settings.jwt_audience),
            ingestor=Ingestor(units, store, keys),
            previous_keys=previous_keys,
            ehc=EhcTrust.from_settings(settings, dev_ehc_key),
            dev_ehc_key=dev_ehc_key,
        )

    def public_jwks(self) -> dict[str, list[dict[str, Any]]]:
        """What ``/.well-known/jwks.json`` publishes: the current signing key and the retired ones."""
        return published_keys(self.signing_key, self.previous_keys)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime
