"""The authorization matrix: every role × every study route × every consent situation, with the exact status.

One world per database backend (built once for the module, through the real STOW and report routes):

* person **P** (the patient) has a CT chest study uploaded by hospital A (``P@A``, 2026-01-10, with a report)
  and an MR head study uploaded by hospital B (``P@B``, 2025-06-01, with a report);
* person **Q** has a study uploaded by hospital B (``Q@B``);
* **F** is P's family member; doctors ``dr-a`` (A), ``dr-b`` (B), ``dr-c`` (institution C, nothing uploaded);
  ``desk-a`` is service-desk staff at A; plus an auditor and an admin.

Each situation installs consent rows (grants, code sessions, break-glass, proxy links, staff sessions) directly
in the database, as the consent API would, and removes them afterwards; each case then expects, for each study,
one outcome: ``read`` (every route 200, search finds it), ``list`` (QIDO routes 200, image and report routes 403),
``hidden`` (every route 404 and no search finds it — indistinguishable from a study that does not exist).
Zero unauthorized reads: a ``hidden`` study never appears in any response body.
"""

from __future__ import annotations

import datetime as dt
import random
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, delete, select, text, update

from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.accounts.service import create_account, create_institution
from imaging_cloud.app import create_app
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.consent.models import (
    BreakGlassSession,
    CodeSession,
    Grant,
    OneTimeCode,
    ProxyLink,
    StaffSession,
)
from imaging_cloud.db.base import Base
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from imaging_cloud.identity.models import Institution, Person
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from tests.conftest import BACKENDS, Hospital, _admin_engine_url, _with_database, register
from tests.dicomweb.conftest import SMALL_CT, SMALL_MR, Uploaded, study_of, upload
from tests.reports.conftest import post_report

NOW = dt.datetime.now(dt.UTC)
LATER = NOW + dt.timedelta(hours=2)
EARLIER = NOW - dt.timedelta(hours=2)

READ, LIST, HIDDEN = "read", "list", "hidden"

#: Routes under one study; ``{study}``, ``{series}``, ``{instance}`` and ``{report}`` are filled per study.
QIDO_ROUTES = (
    "/dicomweb/studies/{study}/series",
    "/dicomweb/studies/{study}/instances",
    "/dicomweb/studies/{study}/series/{series}/instances",
)
IMAGE_ROUTES = (
    "/dicomweb/studies/{study}",
    "/dicomweb/studies/{study}/series/{series}",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}",
    "/dicomweb/studies/{study}/metadata",
    "/dicomweb/studies/{study}/series/{series}/metadata",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/metadata",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/1",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/bulkdata/7FE00010",
    "/dicomweb/studies/{study}/rendered",
    "/dicomweb/studies/{study}/series/{series}/rendered",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/rendered",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/1/rendered",
    "/dicomweb/studies/{study}/thumbnail",
    "/dicomweb/studies/{study}/series/{series}/thumbnail",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/thumbnail",
    "/dicomweb/studies/{study}/series/{series}/instances/{instance}/frames/1/thumbnail",
)
REPORT_ROUTES = ("/studies/{study}/reports", "/reports/{report}")
SEARCH_ROUTES = ("/dicomweb/studies", "/dicomweb/series", "/dicomweb/instances")
#: Every route whose authorization this module proves (the route inventory test checks the list is complete).
COVERED_ROUTES = frozenset(
    {
        *(r.replace("/1", "/{frames}").replace("7FE00010", "{tag}") for r in (*QIDO_ROUTES, *IMAGE_ROUTES)),
        "/studies/{study}/reports",
        "/reports/{report_uid}",
        *SEARCH_ROUTES,
        "/persons/{person_ref}/studies",
        "/persons/{person_ref}/duplicate-check",
    }
)

#: Accept header by the path's kind; the first kind found in the path wins (``frames/1/rendered`` is rendered).
_ACCEPT = {
    "rendered": "image/jpeg",
    "thumbnail": "image/jpeg",
    "metadata": "application/dicom+json",
    "frames": "multipart/related; type=application/octet-stream",
    "bulkdata": "multipart/related; type=application/octet-stream",
}


@dataclass(frozen=True)
class StoredStudy:
    uploaded: Uploaded
    report_uid: str

    def routes(self) -> dict[str, list[str]]:
        values = {
            "study": self.uploaded.study_uid,
            "series": self.uploaded.series_uid,
            "instance": self.uploaded.sop_uid,
            "report": self.report_uid,
        }
        return {
            "qido": [route.format(**values) for route in QIDO_ROUTES],
            "image": [route.format(**values) for route in IMAGE_ROUTES],
            "report": [route.format(**values) for route in REPORT_ROUTES],
        }


@dataclass
class World:
    client: TestClient
    runtime: Runtime
    studies: dict[str, StoredStudy]
    persons: dict[str, str]
    """Label (P, Q, F) → pseudonym."""
    person_ids: dict[str, int]
    accounts: dict[str, int]
    institutions: dict[str, int]
    tokens: dict[str, str] = field(default_factory=dict)

    def token(self, who: str) -> str:
        return self.tokens[who]


def _module_database(request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        target = tmp / "matrix.sqlite3"
        shutil.copyfile(template, target)
        yield f"sqlite:///{target}"
        return
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"ic_matrix_{uuid.uuid4().hex[:12]}"
    admin = create_engine(_admin_engine_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template_name}"'))
    yield _with_database(name)
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    database = _module_database(request, tmp)
    url = next(database)
    settings = Settings(data_dir=tmp / "var", database_url=url, local_store_path=tmp / "objects")
    runtime = Runtime.build(settings)
    try:
        with TestClient(create_app(runtime=runtime)) as client:
            yield _build_world(client, runtime)
    finally:
        runtime.engine.dispose()
        for _ in database:
            pass


def _hospital(runtime: Runtime, code: str) -> Hospital:
    with runtime.units() as uow:
        institution = create_institution(uow.session, code, f"示例医院 {code}")
        institution_id = institution.id
    token = runtime.issuer.issue(
        subject=f"client:{code}", role="hospital", ttl=dt.timedelta(hours=1), institution=code
    ).token
    return Hospital(code=code, institution_id=institution_id, token=token)


def _store(
    client: TestClient, hospital: Hospital, patient: SyntheticPatient, mrn: str, spec: Any, day: dt.date
) -> StoredStudy:
    datasets = study_of(patient, spec, mrn, day, seed=hash((mrn, day)) % 1000)
    uploaded = upload(client, hospital, datasets)
    response = post_report(
        client,
        hospital,
        str(datasets[0].StudyInstanceUID),
        f"R-{mrn}-{day:%Y%m%d}",
        "影像所见：未见明显异常。\n".encode(),
        "text/plain",
    )
    assert response.status_code in (200, 201), response.text
    return StoredStudy(uploaded, response.json()["report_uid"])


def _build_world(client: TestClient, runtime: Runtime) -> World:
    rng = random.Random(51)
    p, q, f = make_patient(rng), make_patient(rng), make_patient(rng)
    a, b = _hospital(runtime, "A"), _hospital(runtime, "B")
    c = _hospital(runtime, "C")
    persons = {
        "P": register(client, a, p, "A-P"),
        "Q": register(client, b, q, "B-Q"),
        "F": register(client, c, f, "C-F"),
    }
    assert register(client, b, p, "B-P") == persons["P"]
    studies = {
        "P@A": _store(client, a, p, "A-P", SMALL_CT, dt.date(2026, 1, 10)),
        "P@B": _store(client, b, p, "B-P", SMALL_MR, dt.date(2025, 6, 1)),
        "Q@B": _store(client, b, q, "B-Q", SMALL_CT, dt.date(2026, 2, 1)),
    }
    accounts: dict[str, int] = {}
    with runtime.units() as uow:
        for name, role, institution in (
            ("dr-a", Role.DOCTOR, "A"),
            ("dr-b", Role.DOCTOR, "B"),
            ("dr-c", Role.DOCTOR, "C"),
            ("desk-a", Role.SERVICE_DESK, "A"),
            ("auditor", Role.AUDITOR, None),
            ("admin", Role.ADMIN, None),
        ):
            accounts[name] = create_account(uow.session, name, f"{name}-secret-12345", role, institution).id
        person_ids = {
            label: uow.session.scalar(select(Person.id).where(Person.pseudonym == ref)) or 0
            for label, ref in persons.items()
        }
        institutions = {
            code: uow.session.scalar(select(Institution.id).where(Institution.code == code)) or 0 for code in "ABC"
        }
    world = World(client, runtime, studies, persons, person_ids, accounts, institutions)
    hour = dt.timedelta(hours=1)
    issue = runtime.issuer.issue
    world.tokens = {
        "hospital-a": a.token,
        "hospital-b": b.token,
        "dr-a": issue(subject=f"account:{accounts['dr-a']}", role="doctor", ttl=hour, institution="A").token,
        "dr-b": issue(subject=f"account:{accounts['dr-b']}", role="doctor", ttl=hour, institution="B").token,
        "dr-c": issue(subject=f"account:{accounts['dr-c']}", role="doctor", ttl=hour, institution="C").token,
        "dr-b-unknown-account": issue(subject="account:999999", role="doctor", ttl=hour, institution="B").token,
        "desk-a": issue(subject=f"account:{accounts['desk-a']}", role="service-desk", ttl=hour, institution="A").token,
        "auditor": issue(subject=f"account:{accounts['auditor']}", role="auditor", ttl=hour).token,
        "admin": issue(subject=f"account:{accounts['admin']}", role="admin", ttl=hour).token,
        "patient-p": _person_token(runtime, persons["P"]),
        "patient-q": _person_token(runtime, persons["Q"]),
        "proxy-f-for-p": _person_token(runtime, persons["F"], acting_for=persons["P"]),
        "proxy-f-for-q": _person_token(runtime, persons["F"], acting_for=persons["Q"]),
    }
    return world


def _person_token(runtime: Runtime, person_ref: str, acting_for: str | None = None) -> str:
    extra: dict[str, object] = {"person_ref": person_ref}
    if acting_for is not None:
        extra["acting_for"] = acting_for
    role = "proxy" if acting_for else "patient"
    return runtime.issuer.issue(subject=f"person:{person_ref}", role=role, ttl=dt.timedelta(hours=1), extra=extra).token


# -- situations: consent rows installed for one case, removed after it ------------------------------------------


Situation = Callable[[World], list[Base]]


def _grant(doctor: str | None = None, institution: str | None = None, **overrides: Any) -> Situation:
    def rows(w: World) -> list[Base]:
        values: dict[str, Any] = {
            "person_id": w.person_ids["P"],
            "grantee_account_id": w.accounts[doctor] if doctor else None,
            "grantee_institution_id": w.institutions[institution] if institution else None,
            "purpose": "treatment",
            "expires_at": LATER,
            "scope_kind": "all",
            "scope_study_uids": [],
            "acted_by_person_id": w.person_ids["P"],
        }
        values.update(overrides)
        if values.get("scope_study_uids") == ["P@A"]:
            values["scope_study_uids"] = [w.studies["P@A"].uploaded.study_uid]
        return [Grant(**values)]

    return rows


def _code_session(expires_at: dt.datetime) -> Situation:
    def rows(w: World) -> list[Base]:
        code = OneTimeCode(
            public_id=uuid.uuid4().hex[:8],
            secret_hash="0" * 64,
            person_id=w.person_ids["P"],
            session_seconds=3600,
            expires_at=LATER,
            used_at=EARLIER,
            used_by_account_id=w.accounts["dr-c"],
            acted_by_person_id=w.person_ids["P"],
        )
        return [
            code,
            # code_id is set when the rows are installed (the code needs its id first): see ``_install``.
            CodeSession(doctor_account_id=w.accounts["dr-c"], person_id=w.person_ids["P"], expires_at=expires_at),
        ]

    return rows


def _break_glass(expires_at: dt.datetime, doctor: str = "dr-c") -> Situation:
    def rows(w: World) -> list[Base]:
        return [
            BreakGlassSession(
                doctor_account_id=w.accounts[doctor],
                institution_id=w.institutions["C"],
                person_id=w.person_ids["P"],
                purpose="emergency-treatment",
                reason="unconscious patient in the emergency room",
                expires_at=expires_at,
            )
        ]

    return rows


def _proxy(removed: bool = False, **rights: bool) -> Situation:
    def rows(w: World) -> list[Base]:
        return [
            ProxyLink(
                person_id=w.person_ids["P"],
                proxy_person_id=w.person_ids["F"],
                relationship="child",
                can_view=rights.get("view", True),
                can_grant=rights.get("grant", False),
                can_issue_codes=rights.get("codes", False),
                acted_by_person_id=w.person_ids["P"],
                removed_at=EARLIER if removed else None,
            )
        ]

    return rows


def _staff_session(staff: str = "desk-a", institution: str = "A", ended: bool = False) -> Situation:
    def rows(w: World) -> list[Base]:
        return [
            StaffSession(
                staff_account_id=w.accounts[staff],
                institution_id=w.institutions[institution],
                person_id=w.person_ids["P"],
                document_type="resident-id-card",
                attestation="checked in person",
                expires_at=LATER,
                ended_at=EARLIER if ended else None,
            )
        ]

    return rows


def _own_institution_off(institution: str) -> Situation:
    def rows(w: World) -> list[Base]:
        with w.runtime.units() as uow:
            uow.session.execute(
                update(Institution).where(Institution.code == institution).values(own_institution_access=False)
            )
        return []

    return rows


def _nothing(_w: World) -> list[Base]:
    return []


@dataclass(frozen=True)
class Case:
    who: str
    situation: Situation
    expect: dict[str, str]
    """Study label → READ / LIST / HIDDEN; studies not named are HIDDEN."""
    search: str = "results"
    """``results``: top-level searches answer 200 with exactly the visible studies; ``403``: refused."""


ALL_P = {"P@A": READ, "P@B": READ}
CASES: dict[str, Case] = {
    # hospitals read back what they uploaded, nothing else
    "hospital-a": Case("hospital-a", _nothing, {"P@A": READ}),
    "hospital-b": Case("hospital-b", _nothing, {"P@B": READ, "Q@B": READ}),
    # patients: own data only
    "patient-own-data": Case("patient-p", _nothing, ALL_P),
    "patient-someone-else": Case("patient-q", _nothing, {"Q@B": READ}),
    # doctors: own institution by default, nothing else without consent
    "doctor-own-institution": Case("dr-b", _nothing, {"P@B": READ, "Q@B": READ}),
    "doctor-own-institution-disabled": Case("dr-b", _own_institution_off("B"), {}),
    "doctor-other-institution": Case("dr-c", _nothing, {}),
    "doctor-unknown-account": Case("dr-b-unknown-account", _nothing, {}),
    "doctor-granted": Case("dr-c", _grant("dr-c"), ALL_P),
    "doctor-granted-to-institution": Case("dr-c", _grant(institution="C"), ALL_P),
    "doctor-grant-to-another-doctor": Case("dr-c", _grant("dr-a"), {}),
    "doctor-grant-revoked": Case("dr-c", _grant("dr-c", revoked_at=EARLIER), {}),
    "doctor-grant-expired": Case("dr-c", _grant("dr-c", expires_at=EARLIER), {}),
    "doctor-grant-listed-study": Case(
        "dr-c", _grant("dr-c", scope_kind="studies", scope_study_uids=["P@A"]), {"P@A": READ}
    ),
    "doctor-grant-modality-out-of-scope": Case(
        "dr-c", _grant("dr-c", scope_kind="modality", scope_modality="MR"), {"P@B": READ}
    ),
    "doctor-grant-date-range": Case(
        "dr-c",
        _grant("dr-c", scope_kind="date-range", scope_date_from="20260101", scope_date_to="20261231"),
        {"P@A": READ},
    ),
    "doctor-grant-plus-own-institution": Case("dr-b", _grant("dr-b"), {**ALL_P, "Q@B": READ}),
    "doctor-one-time-code": Case("dr-c", _code_session(LATER), ALL_P),
    "doctor-one-time-code-expired": Case("dr-c", _code_session(EARLIER), {}),
    "doctor-break-glass": Case("dr-c", _break_glass(LATER), ALL_P),
    "doctor-break-glass-expired": Case("dr-c", _break_glass(EARLIER), {}),
    "doctor-break-glass-of-another-doctor": Case("dr-c", _break_glass(LATER, doctor="dr-a"), {}),
    # family proxies
    "proxy-with-view": Case("proxy-f-for-p", _proxy(), ALL_P),
    "proxy-without-view": Case("proxy-f-for-p", _proxy(view=False, grant=True), {}),
    "proxy-removed": Case("proxy-f-for-p", _proxy(removed=True), {}),
    "proxy-acting-for-someone-else": Case("proxy-f-for-q", _proxy(), {}),
    # service desk: the study list in person, never images or reports
    "desk-in-person": Case("desk-a", _staff_session(), {"P@A": LIST, "P@B": LIST}),
    "desk-session-ended": Case("desk-a", _staff_session(ended=True), {}),
    "desk-without-session": Case("desk-a", _nothing, {}),
    # operators never see images, whatever else exists
    "auditor": Case("auditor", _grant(institution="A"), {}, search="403"),
    "admin": Case("admin", _grant(institution="A"), {}, search="403"),
}


def _install(world: World, rows: list[Base]) -> None:
    with world.runtime.units() as uow:
        last_code: OneTimeCode | None = None
        for row in rows:
            if isinstance(row, CodeSession) and last_code is not None:
                row.code_id = last_code.id
            uow.session.add(row)
            uow.session.flush()
            if isinstance(row, OneTimeCode):
                last_code = row


def _get(w: World, path: str, token: str) -> Any:
    kind = next((k for k in _ACCEPT if f"/{k}" in path), None)
    headers = {"Authorization": f"Bearer {token}"}
    if kind is not None:
        headers["Accept"] = _ACCEPT[kind]
    return w.client.get(path, headers=headers)


@pytest.fixture
def installed(world: World, request: pytest.FixtureRequest) -> Iterator[Case]:
    case: Case = CASES[request.param]
    _install(world, case.situation(world))
    try:
        yield case
    finally:
        with world.runtime.units() as uow:
            for model in (CodeSession, OneTimeCode, Grant, BreakGlassSession, ProxyLink, StaffSession):
                uow.session.execute(delete(model))
            uow.session.execute(update(Institution).values(own_institution_access=True))


@pytest.mark.parametrize("installed", list(CASES), indirect=True)
def test_each_role_and_situation_gets_exactly_the_expected_status_on_every_study_route(
    world: World, installed: Case
) -> None:
    token = world.token(installed.who)
    failures: list[str] = []
    for label, study in world.studies.items():
        outcome = installed.expect.get(label, HIDDEN)
        expected = {
            READ: {"qido": 200, "image": 200, "report": 200},
            LIST: {"qido": 200, "image": 403, "report": 403},
            HIDDEN: {"qido": 404, "image": 404, "report": 404},
        }[outcome]
        for kind, paths in study.routes().items():
            for path in paths:
                response = _get(world, path, token)
                if response.status_code != expected[kind]:
                    failures.append(f"{label} {path}: {response.status_code} != {expected[kind]}")
                elif response.status_code >= 400:
                    body = response.json()
                    assert set(body) <= {"code", "message", "detail", "request_id"}, body
                    if outcome == HIDDEN:
                        assert body["code"] in ("study-not-found", "report-not-found"), body
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("installed", list(CASES), indirect=True)
def test_searches_and_timelines_list_exactly_the_visible_studies(world: World, installed: Case) -> None:
    token = world.token(installed.who)
    headers = {"Authorization": f"Bearer {token}"}
    visible = {world.studies[label].uploaded.study_uid for label, o in installed.expect.items() if o != HIDDEN}
    hidden = {s.uploaded.study_uid for s in world.studies.values()} - visible
    for path in SEARCH_ROUTES:
        response = world.client.get(path, headers=headers)
        if installed.search == "403":
            assert response.status_code == 403, (path, response.status_code)
            continue
        assert response.status_code in (200, 204), (path, response.status_code, response.text)
        found = {row["0020000D"]["Value"][0] for row in (response.json() if response.status_code == 200 else [])}
        assert found == visible, (path, found, visible)
    for label, ref in world.persons.items():
        response = world.client.get(f"/persons/{ref}/studies", headers=headers)
        mine = {s.uploaded.study_uid for name, s in world.studies.items() if name.startswith(f"{label}@")}
        if response.status_code == 200:
            listed = {row["study_uid"] for row in response.json()["studies"]}
            assert listed == mine & visible, (label, listed)
            check = world.client.get(f"/persons/{ref}/duplicate-check?modality=CT", headers=headers)
            assert check.status_code == 200
            assert {row["study_uid"] for row in check.json()["recent_same_exam"]} <= visible
        else:
            assert response.status_code in (403, 404), (label, response.status_code)
            assert not (mine & visible) or installed.who.startswith(("hospital", "dr-")), (label, response.status_code)
        for uid in hidden:
            assert uid not in response.text


def test_revoking_a_grant_stops_the_very_next_request_even_a_download_already_authorized(world: World) -> None:
    doctor = {"Authorization": f"Bearer {world.token('dr-c')}"}
    study = world.studies["P@A"]
    grant = _grant("dr-c")(world)[0]
    assert isinstance(grant, Grant)
    with world.runtime.units() as uow:
        uow.session.add(grant)
        uow.session.flush()
        grant_id = grant.id
    try:
        metadata = world.client.get(f"/dicomweb/studies/{study.uploaded.study_uid}/metadata", headers=doctor)
        assert metadata.status_code == 200
        bulk_uri = next(
            value["BulkDataURI"] for item in metadata.json() for value in item.values() if "BulkDataURI" in value
        )
        assert world.client.get(bulk_uri, headers={**doctor, "Accept": _ACCEPT["bulkdata"]}).status_code == 200
        with world.runtime.units() as uow:
            uow.session.execute(update(Grant).where(Grant.id == grant_id).values(revoked_at=dt.datetime.now(dt.UTC)))
        assert world.client.get(bulk_uri, headers={**doctor, "Accept": _ACCEPT["bulkdata"]}).status_code == 404
        assert world.client.get(study.routes()["image"][0], headers=doctor).status_code == 404
    finally:
        with world.runtime.units() as uow:
            uow.session.execute(delete(Grant))


def test_a_deactivated_doctor_account_loses_consent_based_access(world: World) -> None:
    doctor = {"Authorization": f"Bearer {world.token('dr-c')}"}
    path = world.studies["P@A"].routes()["image"][3]
    with world.runtime.units() as uow:
        uow.session.add_all(_grant("dr-c")(world))
    try:
        assert world.client.get(path, headers={**doctor, "Accept": _ACCEPT["metadata"]}).status_code == 200
        with world.runtime.units() as uow:
            uow.session.execute(update(Account).where(Account.username == "dr-c").values(active=False))
        assert world.client.get(path, headers={**doctor, "Accept": _ACCEPT["metadata"]}).status_code == 404
    finally:
        with world.runtime.units() as uow:
            uow.session.execute(update(Account).values(active=True))
            uow.session.execute(delete(Grant))


def test_every_allowed_read_is_audited_with_the_basis_that_allowed_it(world: World) -> None:
    doctor = {"Authorization": f"Bearer {world.token('dr-c')}"}
    path = world.studies["P@A"].routes()["image"][3]
    with world.runtime.units() as uow:
        glass = _break_glass(LATER)(world)[0]
        assert isinstance(glass, BreakGlassSession)
        uow.session.add(glass)
        uow.session.flush()
        glass_id = glass.id
    try:
        assert world.client.get(path, headers={**doctor, "Accept": _ACCEPT["metadata"]}).status_code == 200
        with world.runtime.units() as uow:
            event = uow.session.scalars(select(AccessEvent).order_by(AccessEvent.seq.desc()).limit(1)).one()
            assert (event.decision, event.basis, event.patient) == (
                "allow",
                f"break-glass:{glass_id}",
                world.persons["P"],
            )
    finally:
        with world.runtime.units() as uow:
            uow.session.execute(delete(BreakGlassSession))
