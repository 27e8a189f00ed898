"""Shared fixtures: a fresh database per test (SQLite always, PostgreSQL when configured), the app, real tokens.

Schemas are built by Alembic once per session into a template (an SQLite file, a PostgreSQL template database);
every test gets its own copy, so no test sees another's rows and nothing depends on leftovers.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from auth.principals import Role
from imaging_cloud.accounts.service import create_account, create_institution
from imaging_cloud.app import create_app
from imaging_cloud.db.base import create_db_engine
from imaging_cloud.db.migrate import upgrade
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from imaging_cloud.storage.s3 import MIN_PART_BYTES, S3ObjectStore
from tests.s3_server import S3Server, running_s3_server

POSTGRES_URL = os.environ.get("IMAGING_CLOUD_TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def _admin_engine_url() -> str:
    return make_url(POSTGRES_URL).set(database="postgres").render_as_string(hide_password=False)


def _with_database(name: str) -> str:
    return make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    engine = create_db_engine(f"sqlite:///{path}")
    upgrade(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"ic_tpl_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_engine_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_db_engine(_with_database(name))
    upgrade(engine)
    engine.dispose()
    yield name
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database of its own for this test."""
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp_path / "imaging-cloud.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"ic_{uuid.uuid4().hex[:16]}"
    admin = create_engine(_admin_engine_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield _with_database(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A real S3 server (SeaweedFS ``weed mini``) on loopback, one per session and xdist worker."""
    with running_s3_server() as server:
        yield server


def new_bucket_name() -> str:
    return f"t-{uuid.uuid4().hex[:20]}"


@pytest.fixture
def s3_store(s3_server: S3Server) -> S3ObjectStore:
    """An S3 store on a bucket of its own; parts are the S3 minimum so multipart paths run on small objects."""
    store = S3ObjectStore(s3_server.client(), new_bucket_name(), part_size=MIN_PART_BYTES)
    store.ensure_bucket()
    return store


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        database_url=database_url,
        local_store_path=tmp_path / "objects",
        max_part_bytes=8 * 1024 * 1024,
        max_request_bytes=32 * 1024 * 1024,
        spool_memory_bytes=64 * 1024,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    built = Runtime.build(settings)
    yield built
    built.engine.dispose()


@pytest.fixture
def app(runtime: Runtime) -> FastAPI:
    return create_app(runtime=runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass(frozen=True)
class Hospital:
    code: str
    institution_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def mint_token(runtime: Runtime, role: Role, institution: str | None = None, subject: str = "test") -> str:
    """A real token from the service's own issuer (authorization is never bypassed in tests)."""
    return runtime.issuer.issue(
        subject=subject, role=role.value, ttl=dt.timedelta(minutes=10), institution=institution
    ).token


def add_hospital(runtime: Runtime, code: str, name: str) -> Hospital:
    with runtime.units() as uow:
        institution = create_institution(uow.session, code, name)
        institution_id = institution.id
    return Hospital(
        code=code,
        institution_id=institution_id,
        token=mint_token(runtime, Role.HOSPITAL, code, subject=f"client:{code}"),
    )


@pytest.fixture
def hospital_a(runtime: Runtime) -> Hospital:
    return add_hospital(runtime, "HOSP-A", "山西示例医院甲")


@pytest.fixture
def hospital_b(runtime: Runtime) -> Hospital:
    return add_hospital(runtime, "HOSP-B", "山西示例医院乙")


@pytest.fixture
def admin_token(runtime: Runtime) -> str:
    with runtime.units() as uow:
        create_account(uow.session, "admin-test", "admin-test-secret-123", Role.ADMIN, None)
    return mint_token(runtime, Role.ADMIN, subject="account:admin")


@pytest.fixture
def patient() -> SyntheticPatient:
    return make_patient(random.Random(20261123))


def register(
    client: TestClient, hospital: Hospital, patient: SyntheticPatient, patient_id: str, issuer: str = ""
) -> str:
    """Register ``patient_id`` at ``hospital`` for ``patient``; returns the pseudonym."""
    response = client.post(
        "/patients/xrefs",
        headers=hospital.headers,
        json={
            "patient_id": patient_id,
            "issuer": issuer,
            "national_id": patient.national_id,
            "health_card": patient.health_card,
            "name": patient.name_zh,
            "sex": patient.sex,
        },
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["pseudonym"])
