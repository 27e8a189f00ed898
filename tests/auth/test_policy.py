"""The access policy as an explicit table: every role × every action × every situation, with the exact outcome.

A situation is one resource (no resource, a study, or a person) and the facts loaded for it. For each situation
the table gives, per role, the outcome of every action that takes that kind of resource; every other action must
raise ``ValueError`` (a wrong call is a programming error, never a silent 404). Outcomes:

* ``allow:<basis>`` — allowed, with the basis recorded on the audit event;
* ``404`` — denied and not visible (answered exactly like a resource that does not exist);
* ``403`` — denied but visible (the principal may know it exists, not do this to it);
* ``error`` — the action does not take this kind of resource.

The cast: Alice (the patient principal), Bob (her son, the proxy principal, acting for her), Carol (someone else Bob
is a proxy for), Dave (another family member of Alice), Zoe (a stranger); a doctor, a service-desk clerk and a
hospital system of institution H1; an auditor and an administrator. Studies come from H1 ("home") or H2.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

import pytest

from auth.policy import (
    ALL_STUDIES,
    NO_FACTS,
    AccessFacts,
    Action,
    BreakGlassFact,
    CodeSessionFact,
    GrantFact,
    PersonFacts,
    ProxyFact,
    ProxyRight,
    Resource,
    Scope,
    ScopeKind,
    StaffSessionFact,
    StudyFacts,
    decide,
)
from auth.principals import Principal, Role

NOW = dt.datetime(2030, 6, 1, 12, 0, tzinfo=dt.UTC)
EARLIER = NOW - dt.timedelta(hours=1)
LATER = NOW + dt.timedelta(hours=1)

HOME, ELSEWHERE = "H1", "H2"
ALICE, BOB, CAROL, DAVE, ZOE = "pseudo-alice", "pseudo-bob", "pseudo-carol", "pseudo-dave", "pseudo-zoe"
DOCTOR, OTHER_DOCTOR = "account:11", "account:12"
CLERK, OTHER_CLERK = "account:21", "account:22"

PRINCIPALS: dict[Role, Principal] = {
    Role.HOSPITAL: Principal("client:h1", Role.HOSPITAL, HOME, "jti-hospital"),
    Role.DOCTOR: Principal(DOCTOR, Role.DOCTOR, HOME, "jti-doctor"),
    Role.PATIENT: Principal("person:alice", Role.PATIENT, None, "jti-patient", person_ref=ALICE),
    Role.PROXY: Principal("person:bob", Role.PROXY, None, "jti-proxy", person_ref=BOB, acting_for=ALICE),
    Role.SERVICE_DESK: Principal(CLERK, Role.SERVICE_DESK, HOME, "jti-desk"),
    Role.AUDITOR: Principal("account:31", Role.AUDITOR, None, "jti-auditor"),
    Role.ADMIN: Principal("account:41", Role.ADMIN, None, "jti-admin"),
}

CT, MR = frozenset({"CT"}), frozenset({"MR"})
ALICE_CT = StudyFacts("2.25.100", ALICE, frozenset({ELSEWHERE}), CT, "20240115")
"""Alice's prior from another hospital: the study consent is about."""
ALICE_HOME = StudyFacts("2.25.101", ALICE, frozenset({HOME}), CT, "20240115")
ALICE_SHARED = StudyFacts("2.25.102", ALICE, frozenset({HOME, ELSEWHERE}), CT, "20240115")
ALICE_MR = StudyFacts("2.25.103", ALICE, frozenset({ELSEWHERE}), MR, "20240115")
ALICE_OLD = StudyFacts("2.25.104", ALICE, frozenset({ELSEWHERE}), CT, "20190101")
ALICE_UNDATED = StudyFacts("2.25.105", ALICE, frozenset({ELSEWHERE}), CT, "")
CAROL_CT = StudyFacts("2.25.300", CAROL, frozenset({ELSEWHERE}), CT, "20240115")
ZOE_CT = StudyFacts("2.25.900", ZOE, frozenset({ELSEWHERE}), CT, "20240115")
ZOE_HOME = StudyFacts("2.25.901", ZOE, frozenset({HOME}), CT, "20240115")

LISTED = Scope(ScopeKind.STUDIES, study_uids=frozenset({ALICE_CT.study_uid}))
CT_ONLY = Scope(ScopeKind.MODALITY, modality="CT")
YEAR_2024 = Scope(ScopeKind.DATE_RANGE, date_from="20240101", date_to="20241231")
FROM_2024 = Scope(ScopeKind.DATE_RANGE, date_from="20240101")
UNTIL_2020 = Scope(ScopeKind.DATE_RANGE, date_to="20201231")

EVERY_RIGHT = frozenset(ProxyRight)
VIEW = frozenset({ProxyRight.VIEW})


def grant(
    id: int = 1,
    *,
    scope: Scope = ALL_STUDIES,
    person: str = ALICE,
    doctor: str | None = DOCTOR,
    institution: str | None = None,
    expires: dt.datetime = LATER,
    revoked: dt.datetime | None = None,
) -> AccessFacts:
    """Facts holding one grant by ``person``: to ``institution`` when given, else to ``doctor``."""
    return AccessFacts(
        grants=(
            GrantFact(
                id=id,
                person_ref=person,
                scope=scope,
                expires_at=expires,
                grantee_subject=None if institution else doctor,
                grantee_institution=institution,
                revoked_at=revoked,
            ),
        )
    )


def code(
    *,
    scope: Scope = ALL_STUDIES,
    doctor: str = DOCTOR,
    expires: dt.datetime = LATER,
    revoked: dt.datetime | None = None,
) -> CodeSessionFact:
    return CodeSessionFact(5, ALICE, doctor, scope, expires, revoked)


def glass(*, doctor: str = DOCTOR, expires: dt.datetime = LATER, ended: dt.datetime | None = None) -> BreakGlassFact:
    return BreakGlassFact(7, ALICE, doctor, expires, ended)


def link(
    rights: frozenset[ProxyRight], *, person: str = ALICE, proxy: str = BOB, removed: dt.datetime | None = None
) -> ProxyFact:
    return ProxyFact(11, person, proxy, rights, removed)


def staff(
    *, clerk: str = CLERK, institution: str = HOME, expires: dt.datetime = LATER, ended: dt.datetime | None = None
) -> StaffSessionFact:
    return StaffSessionFact(9, ALICE, clerk, institution, expires, ended)


OWN_INSTITUTION_ON = AccessFacts(own_institution_access=True)
EVERYTHING_ACTIVE = AccessFacts(
    grants=grant().grants,
    code_sessions=(code(),),
    break_glass=(glass(),),
    proxies=(link(EVERY_RIGHT),),
    staff_sessions=(staff(),),
    own_institution_access=True,
)
"""Every kind of fact, all active and all about Alice."""

# -- the columns: which actions take which kind of resource ---------------------------------------------------

A = Action
GLOBAL_COLUMNS = (
    A.SEARCH,
    A.UPLOAD,
    A.REGISTER_XREF,
    A.UPLOAD_REPORT,
    A.ADMINISTER,
    A.READ_AUDIT,
    A.EXPORT_AUDIT,
    A.REDEEM_CODE,
    A.BREAK_GLASS,
    A.ASSIST_IN_PERSON,
)
STUDY_COLUMNS = (A.SEARCH, A.RETRIEVE, A.READ_REPORT, A.UPLOAD_REPORT)
PERSON_COLUMNS = (A.SEARCH, A.MANAGE_GRANTS, A.ISSUE_CODE, A.MANAGE_PROXIES, A.VIEW_ACCESS_LOG)

# Row shorthands (each is still the full, literal row).
NONE_4 = "404 404 404 404"
NONE_5 = "404 404 404 404 404"
HOSPITAL_READ_BACK = "allow:own-upload allow:own-upload allow:own-upload allow:own-upload"
OWNER_5 = "allow:own-data allow:own-data allow:own-data allow:own-data allow:own-data"


def reads(basis: str) -> str:
    """Study row of a reader: may search, retrieve and read reports; may not upload a report (403)."""
    return f"allow:{basis} allow:{basis} allow:{basis} 403"


def lists_only(basis: str) -> str:
    """Person row of a doctor: may list the person's studies, nothing about their consent (visible, so 403)."""
    return f"allow:{basis} 403 403 403 403"


OWNER_4 = reads("own-data")
CLERK_STUDY = "allow:staff-assisted:9 403 403 403"
"""A clerk shows the study list in person; never images, reports or report uploads."""
CLERK_PERSON = "allow:staff-assisted:9 403 allow:staff-assisted:9 allow:staff-assisted:9 403"
"""A clerk lists studies, prints a code and sets up a proxy; never manages grants or reads the access log."""
PROXY_EVERY_RIGHT = "allow:proxy allow:proxy allow:proxy 403 allow:proxy"
"""Even with every right a proxy cannot add or remove proxies: only the person (or the service desk) can."""


@dataclass(frozen=True)
class Situation:
    name: str
    resource: Resource
    facts: AccessFacts
    rows: dict[Role, str]

    @property
    def columns(self) -> tuple[Action, ...]:
        if self.resource is None:
            return GLOBAL_COLUMNS
        return STUDY_COLUMNS if isinstance(self.resource, StudyFacts) else PERSON_COLUMNS


def situation(
    name: str,
    resource: Resource,
    facts: AccessFacts,
    *,
    hospital: str,
    doctor: str,
    patient: str,
    proxy: str,
    desk: str,
    auditor: str,
    admin: str,
) -> Situation:
    rows = {
        Role.HOSPITAL: hospital,
        Role.DOCTOR: doctor,
        Role.PATIENT: patient,
        Role.PROXY: proxy,
        Role.SERVICE_DESK: desk,
        Role.AUDITOR: auditor,
        Role.ADMIN: admin,
    }
    return Situation(name, resource, facts, rows)


NO_RESOURCE_ROWS = {
    # SEARCH UPLOAD REGISTER_XREF UPLOAD_REPORT ADMINISTER READ_AUDIT EXPORT_AUDIT REDEEM_CODE BREAK_GLASS ASSIST
    "hospital": "allow:own-upload allow:own-institution allow:own-institution allow:own-institution"
    " 403 403 403 403 403 403",
    "doctor": "allow:role 403 403 403 403 403 403 allow:role allow:role 403",
    "patient": "allow:own-data 403 403 403 403 403 403 403 403 403",
    "proxy": "allow:proxy 403 403 403 403 403 403 403 403 403",
    "desk": "allow:role 403 403 403 403 403 403 403 403 allow:role",
    "auditor": "403 403 403 403 403 allow:auditor allow:auditor 403 403 403",
    "admin": "403 403 403 403 allow:administrator 403 403 403 403 403",
}

TABLE: tuple[Situation, ...] = (
    # -- no resource: what each role may do at all (facts never change it) -----------------------------------
    situation("no resource, no facts", None, NO_FACTS, **NO_RESOURCE_ROWS),
    situation("no resource, every fact active", None, EVERYTHING_ACTIVE, **NO_RESOURCE_ROWS),
    # -- a study: own data, someone else's, own institution -------------------------------------------------
    #   columns: SEARCH RETRIEVE READ_REPORT UPLOAD_REPORT
    situation(
        "own study from another hospital, no facts",
        ALICE_CT,
        NO_FACTS,
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "someone else's study, no facts",
        ZOE_CT,
        NO_FACTS,
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "someone else's study uploaded by the home institution, own-institution disabled",
        ZOE_HOME,
        NO_FACTS,
        hospital=HOSPITAL_READ_BACK,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "own study uploaded by the home institution, own-institution disabled",
        ALICE_HOME,
        NO_FACTS,
        hospital=HOSPITAL_READ_BACK,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "own-institution enabled, study uploaded by the home institution",
        ALICE_HOME,
        OWN_INSTITUTION_ON,
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("own-institution"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "own-institution enabled, study with instances from home and from another hospital",
        ALICE_SHARED,
        OWN_INSTITUTION_ON,
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("own-institution"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "own-institution enabled, study uploaded by another institution",
        ALICE_CT,
        OWN_INSTITUTION_ON,
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "own-institution enabled, someone else's study uploaded by the home institution",
        ZOE_HOME,
        OWN_INSTITUTION_ON,
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("own-institution"),
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- grants ------------------------------------------------------------------------------------------
    situation(
        "granted to the doctor, all studies",
        ALICE_CT,
        grant(),
        hospital=NONE_4,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "granted to the doctor's institution (not to its hospital system or its clerks)",
        ALICE_CT,
        grant(2, institution=HOME),
        hospital=NONE_4,
        doctor=reads("grant:2"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "granted to another doctor",
        ALICE_CT,
        grant(doctor=OTHER_DOCTOR),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "granted to another institution",
        ALICE_CT,
        grant(2, institution=ELSEWHERE),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant revoked",
        ALICE_CT,
        grant(revoked=EARLIER),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "institution grant revoked",
        ALICE_CT,
        grant(2, institution=HOME, revoked=EARLIER),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant expired",
        ALICE_CT,
        grant(expires=EARLIER),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant expiring at this very instant",
        ALICE_CT,
        grant(expires=NOW),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant by the patient does not reach someone else's study",
        ZOE_CT,
        grant(),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- grant scopes ------------------------------------------------------------------------------------
    situation(
        "grant of listed studies, study listed",
        ALICE_CT,
        grant(scope=LISTED),
        hospital=NONE_4,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of listed studies, study not listed",
        ALICE_MR,
        grant(scope=LISTED),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of a modality, study of that modality",
        ALICE_CT,
        grant(scope=CT_ONLY),
        hospital=NONE_4,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of a modality, study of another modality",
        ALICE_MR,
        grant(scope=CT_ONLY),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "institution grant of a modality, study of another modality",
        ALICE_MR,
        grant(2, institution=HOME, scope=CT_ONLY),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of a date range, study inside it",
        ALICE_CT,
        grant(scope=YEAR_2024),
        hospital=NONE_4,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of a date range, study before it",
        ALICE_OLD,
        grant(scope=YEAR_2024),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of a date range, study without a date",
        ALICE_UNDATED,
        grant(scope=YEAR_2024),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of an open-ended range from 2024, study of 2019",
        ALICE_OLD,
        grant(scope=FROM_2024),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of an open-ended range until 2020, study of 2019",
        ALICE_OLD,
        grant(scope=UNTIL_2020),
        hospital=NONE_4,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant of an open-ended range until 2020, study without a date",
        ALICE_UNDATED,
        grant(scope=UNTIL_2020),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- one-time-code sessions --------------------------------------------------------------------------
    situation(
        "one-time-code session",
        ALICE_CT,
        AccessFacts(code_sessions=(code(),)),
        hospital=NONE_4,
        doctor=reads("one-time-code:5"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time-code session expired",
        ALICE_CT,
        AccessFacts(code_sessions=(code(expires=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time-code session revoked",
        ALICE_CT,
        AccessFacts(code_sessions=(code(revoked=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "another doctor's one-time-code session",
        ALICE_CT,
        AccessFacts(code_sessions=(code(doctor=OTHER_DOCTOR),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time-code session of listed studies, study listed",
        ALICE_CT,
        AccessFacts(code_sessions=(code(scope=LISTED),)),
        hospital=NONE_4,
        doctor=reads("one-time-code:5"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time-code session of listed studies, study not listed",
        ALICE_MR,
        AccessFacts(code_sessions=(code(scope=LISTED),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time-code session of a date range, study without a date",
        ALICE_UNDATED,
        AccessFacts(code_sessions=(code(scope=YEAR_2024),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time-code session of the patient does not reach someone else's study",
        ZOE_CT,
        AccessFacts(code_sessions=(code(),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- break-glass -------------------------------------------------------------------------------------
    situation(
        "break-glass active",
        ALICE_CT,
        AccessFacts(break_glass=(glass(),)),
        hospital=NONE_4,
        doctor=reads("break-glass:7"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "break-glass expired",
        ALICE_CT,
        AccessFacts(break_glass=(glass(expires=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "break-glass ended early",
        ALICE_CT,
        AccessFacts(break_glass=(glass(ended=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "break-glass of another doctor",
        ALICE_CT,
        AccessFacts(break_glass=(glass(doctor=OTHER_DOCTOR),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "break-glass for the patient does not reach someone else's study",
        ZOE_CT,
        AccessFacts(break_glass=(glass(),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- which basis wins when several cover --------------------------------------------------------------
    situation(
        "grant, one-time code and break-glass all cover: the grant",
        ALICE_CT,
        AccessFacts(grants=grant().grants, code_sessions=(code(),), break_glass=(glass(),)),
        hospital=NONE_4,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "one-time code and break-glass both cover: the code",
        ALICE_CT,
        AccessFacts(code_sessions=(code(),), break_glass=(glass(),)),
        hospital=NONE_4,
        doctor=reads("one-time-code:5"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant out of scope, one-time code covers: the code",
        ALICE_MR,
        AccessFacts(grants=grant(scope=CT_ONLY).grants, code_sessions=(code(),)),
        hospital=NONE_4,
        doctor=reads("one-time-code:5"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant and own-institution both cover: the grant (whole study)",
        ALICE_HOME,
        AccessFacts(grants=grant().grants, own_institution_access=True),
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "grant out of scope, own-institution covers: own-institution",
        ALICE_HOME,
        AccessFacts(grants=grant(scope=LISTED).grants, own_institution_access=True),
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("own-institution"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        # Break-glass is the last resort (flagged for auditor review, shown to the patient as an emergency):
        # where own-institution already covers every instance, the access is routine.
        "break-glass and own-institution both cover a study only the home institution uploaded: own-institution",
        ALICE_HOME,
        AccessFacts(break_glass=(glass(),), own_institution_access=True),
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("own-institution"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        # Own-institution would show only the home instances; the other hospital's need the break-glass.
        "break-glass and own-institution, study also uploaded elsewhere: break-glass",
        ALICE_SHARED,
        AccessFacts(break_glass=(glass(),), own_institution_access=True),
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("break-glass:7"),
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- family proxies ----------------------------------------------------------------------------------
    situation(
        "via proxy with the right to view",
        ALICE_CT,
        AccessFacts(proxies=(link(VIEW),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=reads("proxy"),
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "via proxy with every right",
        ALICE_CT,
        AccessFacts(proxies=(link(EVERY_RIGHT),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=reads("proxy"),
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "via proxy with the rights to grant and issue codes but not to view",
        ALICE_CT,
        AccessFacts(proxies=(link(frozenset({ProxyRight.GRANT, ProxyRight.ISSUE_CODES})),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "proxy removed",
        ALICE_CT,
        AccessFacts(proxies=(link(EVERY_RIGHT, removed=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "proxy removed at this very instant",
        ALICE_CT,
        AccessFacts(proxies=(link(EVERY_RIGHT, removed=NOW),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "proxy acting for someone else: the token names the patient, the study is another represented person's",
        CAROL_CT,
        AccessFacts(proxies=(link(EVERY_RIGHT, person=CAROL),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "another family member's proxy link",
        ALICE_CT,
        AccessFacts(proxies=(link(EVERY_RIGHT, proxy=DAVE),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "via proxy with view, someone else's study",
        ZOE_CT,
        AccessFacts(proxies=(link(EVERY_RIGHT),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- staff-assisted sessions -------------------------------------------------------------------------
    situation(
        "staff session active",
        ALICE_CT,
        AccessFacts(staff_sessions=(staff(),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=CLERK_STUDY,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "staff session ended",
        ALICE_CT,
        AccessFacts(staff_sessions=(staff(ended=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "staff session expired",
        ALICE_CT,
        AccessFacts(staff_sessions=(staff(expires=EARLIER),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "staff session at another institution",
        ALICE_CT,
        AccessFacts(staff_sessions=(staff(institution=ELSEWHERE),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "staff session of another clerk",
        ALICE_CT,
        AccessFacts(staff_sessions=(staff(clerk=OTHER_CLERK),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=OWNER_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "staff session with the patient does not reach someone else's study",
        ZOE_CT,
        AccessFacts(staff_sessions=(staff(),)),
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- everything at once ------------------------------------------------------------------------------
    situation(
        "every fact active, study with instances from home and elsewhere",
        ALICE_SHARED,
        EVERYTHING_ACTIVE,
        hospital=HOSPITAL_READ_BACK,
        doctor=reads("grant:1"),
        patient=OWNER_4,
        proxy=reads("proxy"),
        desk=CLERK_STUDY,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    situation(
        "every fact active, someone else's study from another hospital",
        ZOE_CT,
        EVERYTHING_ACTIVE,
        hospital=NONE_4,
        doctor=NONE_4,
        patient=NONE_4,
        proxy=NONE_4,
        desk=NONE_4,
        auditor=NONE_4,
        admin=NONE_4,
    ),
    # -- a person: their study list and their consent ----------------------------------------------------
    #   columns: SEARCH MANAGE_GRANTS ISSUE_CODE MANAGE_PROXIES VIEW_ACCESS_LOG
    situation(
        "own person, no facts",
        PersonFacts(ALICE),
        NO_FACTS,
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "someone else as a person, no facts",
        PersonFacts(ZOE),
        NO_FACTS,
        hospital=NONE_5,
        doctor=NONE_5,
        patient=NONE_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person granted to the doctor",
        PersonFacts(ALICE),
        grant(),
        hospital=NONE_5,
        doctor=lists_only("grant:1"),
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person granted to the doctor's institution",
        PersonFacts(ALICE),
        grant(2, institution=HOME),
        hospital=NONE_5,
        doctor=lists_only("grant:2"),
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        # Listing a person's studies is then filtered by the scope (in SQL); the person is known either way.
        "person granted to the doctor for listed studies only",
        PersonFacts(ALICE),
        grant(scope=LISTED),
        hospital=NONE_5,
        doctor=lists_only("grant:1"),
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: grant revoked",
        PersonFacts(ALICE),
        grant(revoked=EARLIER),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: grant expired",
        PersonFacts(ALICE),
        grant(expires=EARLIER),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: granted to another doctor",
        PersonFacts(ALICE),
        grant(doctor=OTHER_DOCTOR),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: grant by the patient does not reach someone else",
        PersonFacts(ZOE),
        grant(),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=NONE_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via one-time-code session",
        PersonFacts(ALICE),
        AccessFacts(code_sessions=(code(),)),
        hospital=NONE_5,
        doctor=lists_only("one-time-code:5"),
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: one-time-code session expired",
        PersonFacts(ALICE),
        AccessFacts(code_sessions=(code(expires=EARLIER),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via break-glass",
        PersonFacts(ALICE),
        AccessFacts(break_glass=(glass(),)),
        hospital=NONE_5,
        doctor=lists_only("break-glass:7"),
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: break-glass expired",
        PersonFacts(ALICE),
        AccessFacts(break_glass=(glass(expires=EARLIER),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: break-glass of another doctor",
        PersonFacts(ALICE),
        AccessFacts(break_glass=(glass(doctor=OTHER_DOCTOR),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        # Own-institution opens the institution's own uploads, not the person's list or consent.
        "person: own-institution enabled",
        PersonFacts(ALICE),
        OWN_INSTITUTION_ON,
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via proxy with the right to view",
        PersonFacts(ALICE),
        AccessFacts(proxies=(link(VIEW),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy="allow:proxy 403 403 403 allow:proxy",
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via proxy with the right to grant only",
        PersonFacts(ALICE),
        AccessFacts(proxies=(link(frozenset({ProxyRight.GRANT})),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy="403 allow:proxy 403 403 403",
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via proxy with the right to issue codes only",
        PersonFacts(ALICE),
        AccessFacts(proxies=(link(frozenset({ProxyRight.ISSUE_CODES})),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy="403 403 allow:proxy 403 403",
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via proxy with every right",
        PersonFacts(ALICE),
        AccessFacts(proxies=(link(EVERY_RIGHT),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=PROXY_EVERY_RIGHT,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: proxy removed",
        PersonFacts(ALICE),
        AccessFacts(proxies=(link(EVERY_RIGHT, removed=EARLIER),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: proxy acting for someone else (another represented person)",
        PersonFacts(CAROL),
        AccessFacts(proxies=(link(EVERY_RIGHT, person=CAROL),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=NONE_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: another family member's proxy link",
        PersonFacts(ALICE),
        AccessFacts(proxies=(link(EVERY_RIGHT, proxy=DAVE),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person via staff session",
        PersonFacts(ALICE),
        AccessFacts(staff_sessions=(staff(),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=CLERK_PERSON,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: staff session ended",
        PersonFacts(ALICE),
        AccessFacts(staff_sessions=(staff(ended=EARLIER),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: staff session expired",
        PersonFacts(ALICE),
        AccessFacts(staff_sessions=(staff(expires=EARLIER),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: staff session at another institution",
        PersonFacts(ALICE),
        AccessFacts(staff_sessions=(staff(institution=ELSEWHERE),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: staff session of another clerk",
        PersonFacts(ALICE),
        AccessFacts(staff_sessions=(staff(clerk=OTHER_CLERK),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=OWNER_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: staff session with the patient does not reach someone else",
        PersonFacts(ZOE),
        AccessFacts(staff_sessions=(staff(),)),
        hospital=NONE_5,
        doctor=NONE_5,
        patient=NONE_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "person: every fact active",
        PersonFacts(ALICE),
        EVERYTHING_ACTIVE,
        hospital=NONE_5,
        doctor=lists_only("grant:1"),
        patient=OWNER_5,
        proxy=PROXY_EVERY_RIGHT,
        desk=CLERK_PERSON,
        auditor=NONE_5,
        admin=NONE_5,
    ),
    situation(
        "someone else as a person, every fact active",
        PersonFacts(ZOE),
        EVERYTHING_ACTIVE,
        hospital=NONE_5,
        doctor=NONE_5,
        patient=NONE_5,
        proxy=NONE_5,
        desk=NONE_5,
        auditor=NONE_5,
        admin=NONE_5,
    ),
)

ALLOWED_PAIRS: frozenset[tuple[Role, Action]] = frozenset(
    {
        # DESIGN §3, role by role. Anything not listed here is denied whatever the facts.
        *((Role.HOSPITAL, a) for a in (A.SEARCH, A.RETRIEVE, A.READ_REPORT, A.UPLOAD, A.REGISTER_XREF)),
        (Role.HOSPITAL, A.UPLOAD_REPORT),
        *((Role.DOCTOR, a) for a in (A.SEARCH, A.RETRIEVE, A.READ_REPORT, A.REDEEM_CODE, A.BREAK_GLASS)),
        *((Role.PATIENT, a) for a in (A.SEARCH, A.RETRIEVE, A.READ_REPORT)),
        *((Role.PATIENT, a) for a in (A.MANAGE_GRANTS, A.ISSUE_CODE, A.MANAGE_PROXIES, A.VIEW_ACCESS_LOG)),
        *((Role.PROXY, a) for a in (A.SEARCH, A.RETRIEVE, A.READ_REPORT)),
        *((Role.PROXY, a) for a in (A.MANAGE_GRANTS, A.ISSUE_CODE, A.VIEW_ACCESS_LOG)),
        *((Role.SERVICE_DESK, a) for a in (A.SEARCH, A.ISSUE_CODE, A.MANAGE_PROXIES, A.ASSIST_IN_PERSON)),
        (Role.AUDITOR, A.READ_AUDIT),
        (Role.AUDITOR, A.EXPORT_AUDIT),
        (Role.ADMIN, A.ADMINISTER),
    }
)
"""Every (role, action) pair that can ever be allowed."""


def outcome(principal: Principal, action: Action, resource: Resource, facts: AccessFacts) -> str:
    try:
        decision = decide(principal, action, resource, facts, NOW)
    except ValueError:
        return "error"
    if decision.allowed:
        return f"allow:{decision.basis}"
    return "403" if decision.visible else "404"


def expected_outcomes(case: Situation) -> dict[str, str]:
    """``"<role> <action>" -> outcome`` for every role and every action (``error`` outside the columns)."""
    expected = {}
    for role in Role:
        row = case.rows[role].split()
        assert len(row) == len(case.columns), f"{case.name}: the {role} row has {len(row)} entries"
        given = dict(zip(case.columns, row, strict=True))
        expected.update({f"{role} {action}": given.get(action, "error") for action in Action})
    return expected


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in TABLE])
def test_every_role_and_action_has_the_tabled_outcome(case: Situation) -> None:
    actual = {
        f"{role} {action}": outcome(PRINCIPALS[role], action, case.resource, case.facts)
        for role, action in itertools.product(Role, Action)
    }
    assert actual == expected_outcomes(case)


@pytest.mark.parametrize("case", [pytest.param(case, id=case.name) for case in TABLE])
def test_decisions_explain_themselves_without_naming_anyone(case: Situation) -> None:
    """Every decision has a reason; a 403's reason may reach the caller, so it names no study and no person."""
    for role, action in itertools.product(Role, case.columns):
        decision = decide(PRINCIPALS[role], action, case.resource, case.facts, NOW)
        assert decision.reason
        if decision.visible and not decision.allowed:
            for name in (ALICE, BOB, CAROL, DAVE, ZOE, "2.25."):
                assert name not in decision.reason


def test_table_names_every_role_in_every_situation_once() -> None:
    assert all(set(case.rows) == set(Role) for case in TABLE)
    names = [case.name for case in TABLE]
    assert len(names) == len(set(names))


def test_columns_cover_every_action() -> None:
    assert set(GLOBAL_COLUMNS) | set(STUDY_COLUMNS) | set(PERSON_COLUMNS) == set(Action)


def test_allowed_pairs_are_exactly_what_the_table_allows() -> None:
    """Deny by default: a (role, action) pair the design does not list is never allowed in any situation."""
    allowed = {
        (Role(role), Action(action))
        for case in TABLE
        for key, result in expected_outcomes(case).items()
        if result.startswith("allow:")
        for role, action in [key.split(" ")]
    }
    assert allowed == ALLOWED_PAIRS


@pytest.mark.parametrize("action", list(Action))
def test_wrong_resource_kind_is_an_error_for_every_role(action: Action) -> None:
    """A study where a person belongs (and so on) raises, it never turns into a 404 or an allow."""
    resources: dict[str, Resource] = {"none": None, "study": ALICE_CT, "person": PersonFacts(ALICE)}
    accepted = {
        kind
        for kind, columns in (("none", GLOBAL_COLUMNS), ("study", STUDY_COLUMNS), ("person", PERSON_COLUMNS))
        if action in columns
    }
    for role, kind in itertools.product(Role, resources):
        result = outcome(PRINCIPALS[role], action, resources[kind], EVERYTHING_ACTIVE)
        assert (result == "error") == (kind not in accepted), (role, kind, result)
