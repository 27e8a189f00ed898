"""One-time codes: a person shows ``<PUBLIC>-<SECRET>`` (text or QR), a doctor redeems it once for a session.

* The public part (5 characters from an alphabet without look-alikes) names the code; the secret (6 digits from
  ``secrets``) is stored only as a keyed HMAC and compared in constant time.
* Failed attempts are rate-limited in the database, shared by every worker: a doctor with ``DOCTOR_LIMIT``
  failures within ``DOCTOR_WINDOW`` gets 429 ``too-many-attempts``; a code with ``CODE_LIMIT`` failures is locked.
  Together they bound guessing to a handful of tries per code and per doctor.
* Redemption claims the code with one conditional ``UPDATE … WHERE used_at IS NULL AND revoked_at IS NULL AND
  expires_at > now``: of two doctors racing for one code, the database lets exactly one row update through.
* Only a caller holding the right secret learns the code's state (used, expired, revoked); anything else is the
  generic 404 ``code-invalid``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from auth.policy import Scope
from imaging_cloud.access.facts import scope_of
from imaging_cloud.accounts.models import Account
from imaging_cloud.consent.actors import ActedBy
from imaging_cloud.consent.models import CodeAttempt, CodeSession, OneTimeCode
from imaging_cloud.consent.scopes import ScopeIn, ScopeOut, check_studies_belong, store_scope
from imaging_cloud.db.unit_of_work import UnitOfWorkFactory
from imaging_cloud.errors import Conflict, Gone, NotFound, TooManyRequests
from imaging_cloud.identity.models import Person
from imaging_cloud.keys import KeyRing

PUBLIC_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
"""No 0/O, 1/I/L: what is read aloud or typed from a phone screen is not mistaken."""
PUBLIC_LENGTH = 5
SECRET_DIGITS = 6
CODE_LIMIT = 5
"""Failed attempts that lock a code for good."""
DOCTOR_LIMIT = 10
DOCTOR_WINDOW = dt.timedelta(minutes=15)
_HASH_KIND = "one-time-code"
_MAX_ISSUE_TRIES = 10


class CodeIn(BaseModel):
    scope: ScopeIn = Field(default_factory=ScopeIn)
    session_minutes: int = Field(default=240, ge=5, le=1440, description="How long the doctor's session lasts")
    ttl_seconds: int = Field(default=600, ge=30, le=3600, description="How long the code can be used")


class CodeState(StrEnum):
    ACTIVE = "active"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    LOCKED = "locked"


class CodeOut(BaseModel):
    """A code as listed: never its secret."""

    public_id: str
    state: CodeState
    scope: ScopeOut
    session_minutes: int
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None
    used_by: str | None = Field(default=None, description="Display name of the doctor who used it")
    revoked_at: dt.datetime | None = None


class RedeemIn(BaseModel):
    code: str = Field(min_length=1, max_length=64)


@dataclass(frozen=True)
class IssuedCode:
    row: OneTimeCode
    code: str


@dataclass(frozen=True)
class Redeemed:
    session: CodeSession
    code: OneTimeCode
    person_ref: str
    scope: Scope


def secret_hash(keys: KeyRing, public_id: str, secret: str) -> str:
    return keys.lookup_hash(_HASH_KIND, f"{public_id}-{secret}")


def _new_public_id() -> str:
    return "".join(secrets.choice(PUBLIC_ALPHABET) for _ in range(PUBLIC_LENGTH))


def issue_code(
    session: Session, keys: KeyRing, person: Person, body: CodeIn, acted: ActedBy, now: dt.datetime
) -> IssuedCode:
    scope = body.scope.to_scope()
    check_studies_belong(session, scope, person.id)
    for _ in range(_MAX_ISSUE_TRIES):
        public_id = _new_public_id()
        if session.scalar(select(OneTimeCode.id).where(OneTimeCode.public_id == public_id)) is None:
            break
    else:  # pragma: no cover (31**5 public ids; ten collisions in a row means something else is wrong)
        raise Conflict("could not allocate a code; try again", code="code-allocation-failed")
    secret = f"{secrets.randbelow(10**SECRET_DIGITS):0{SECRET_DIGITS}d}"
    row = OneTimeCode(
        public_id=public_id,
        secret_hash=secret_hash(keys, public_id, secret),
        person_id=person.id,
        session_seconds=body.session_minutes * 60,
        expires_at=now + dt.timedelta(seconds=body.ttl_seconds),
        created_at=now,
        failed_attempts=0,
    )
    store_scope(row, scope)
    acted.stamp(row)
    session.add(row)
    session.flush()
    return IssuedCode(row=row, code=f"{public_id}-{secret}")


def state_of(code: OneTimeCode, now: dt.datetime) -> CodeState:
    if code.revoked_at is not None:
        return CodeState.REVOKED
    if code.used_at is not None:
        return CodeState.USED
    if code.failed_attempts >= CODE_LIMIT:
        return CodeState.LOCKED
    return CodeState.ACTIVE if now < code.expires_at else CodeState.EXPIRED


def list_codes(session: Session, person_id: int, now: dt.datetime) -> list[CodeOut]:
    rows = session.execute(
        select(OneTimeCode, Account.display_name, Account.username)
        .outerjoin(Account, Account.id == OneTimeCode.used_by_account_id)
        .where(OneTimeCode.person_id == person_id)
        .order_by(OneTimeCode.id.desc())
    ).all()
    return [
        CodeOut(
            public_id=code.public_id,
            state=state_of(code, now),
            scope=ScopeOut.of_row(code),
            session_minutes=code.session_seconds // 60,
            created_at=code.created_at,
            expires_at=code.expires_at,
            used_at=code.used_at,
            used_by=(display or username) if username else None,
            revoked_at=code.revoked_at,
        )
        for code, display, username in rows
    ]


def code_of_person(session: Session, person_id: int, public_id: str) -> OneTimeCode:
    code = session.scalar(
        select(OneTimeCode).where(OneTimeCode.person_id == person_id, OneTimeCode.public_id == public_id.upper())
    )
    if code is None:
        raise NotFound("code not found", code="code-not-found")
    return code


def revoke_code(session: Session, code: OneTimeCode, now: dt.datetime) -> int:
    """Revoke the code and end the session it opened, if any; returns the number of sessions ended."""
    if code.revoked_at is None:
        code.revoked_at = now
    ended = session.execute(
        update(CodeSession)
        .where(CodeSession.code_id == code.id, CodeSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return int(getattr(ended, "rowcount", 0) or 0)


# -- redemption ------------------------------------------------------------------------------------------------


def _split(code: str) -> tuple[str, str] | None:
    """``(public id, secret)`` of what the doctor typed or scanned (spaces and case forgiven), or None."""
    public_id, separator, secret = code.strip().replace(" ", "").upper().partition("-")
    if not separator or not (1 <= len(public_id) <= 16) or not (secret.isascii() and secret.isdigit()):
        return None
    return public_id, secret


def _record_failure(units: UnitOfWorkFactory, account_id: int, code_id: int | None, public_id: str | None) -> None:
    """Count a failed attempt in a transaction of its own: it must survive the error answer's rollback."""
    with units() as uow:
        uow.session.add(CodeAttempt(account_id=account_id, code_public_id=public_id, succeeded=False))
        if code_id is not None:
            uow.session.execute(
                update(OneTimeCode)
                .where(OneTimeCode.id == code_id)
                .values(failed_attempts=OneTimeCode.failed_attempts + 1)
                .execution_options(synchronize_session=False)
            )


def _check_doctor_limit(session: Session, account_id: int, now: dt.datetime) -> None:
    failures = session.scalar(
        select(func.count(CodeAttempt.id)).where(
            CodeAttempt.account_id == account_id,
            CodeAttempt.succeeded.is_(False),
            CodeAttempt.attempted_at > now - DOCTOR_WINDOW,
        )
    )
    if (failures or 0) >= DOCTOR_LIMIT:
        raise TooManyRequests("too many failed code attempts; wait and try again", code="too-many-attempts")


def _refuse_spent(code: OneTimeCode, now: dt.datetime) -> None:
    """The right secret for a code that can no longer be used: say why (the caller holds the secret)."""
    if code.revoked_at is not None:
        raise Gone("the code was revoked", code="code-revoked")
    if code.used_at is not None:
        raise Gone("the code was already used", code="code-used")
    if code.failed_attempts >= CODE_LIMIT:
        raise Gone("the code is locked after too many failed attempts", code="code-locked")
    if now >= code.expires_at:
        raise Gone("the code has expired", code="code-expired")


def redeem(
    session: Session, units: UnitOfWorkFactory, keys: KeyRing, account_id: int, typed: str, now: dt.datetime
) -> Redeemed:
    """Use a code for ``account_id`` in ``session`` (the caller commits it with the audit event).

    Failed attempts are committed separately through ``units`` before the error is raised.
    """
    _check_doctor_limit(session, account_id, now)
    parts = _split(typed)
    code = session.scalar(select(OneTimeCode).where(OneTimeCode.public_id == parts[0])) if parts is not None else None
    if parts is None or code is None:
        _record_failure(units, account_id, None, parts[0] if parts and len(parts[0]) <= 16 else None)
        raise NotFound("the code is not valid", code="code-invalid")
    if code.failed_attempts >= CODE_LIMIT:
        raise Gone("the code is locked after too many failed attempts", code="code-locked")
    if not hmac.compare_digest(code.secret_hash, secret_hash(keys, code.public_id, parts[1])):
        _record_failure(units, account_id, code.id, code.public_id)
        raise NotFound("the code is not valid", code="code-invalid")
    _refuse_spent(code, now)
    claimed = session.execute(
        update(OneTimeCode)
        .where(
            OneTimeCode.id == code.id,
            OneTimeCode.used_at.is_(None),
            OneTimeCode.revoked_at.is_(None),
            OneTimeCode.expires_at > now,
            OneTimeCode.failed_attempts < CODE_LIMIT,
        )
        .values(used_at=now, used_by_account_id=account_id)
        .execution_options(synchronize_session=False)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        session.rollback()
        session.refresh(code)
        _refuse_spent(code, now)
        raise Gone("the code was already used", code="code-used")  # pragma: no cover (a state _refuse_spent names)
    session.refresh(code)
    opened = CodeSession(
        code_id=code.id,
        doctor_account_id=account_id,
        person_id=code.person_id,
        expires_at=now + dt.timedelta(seconds=code.session_seconds),
        created_at=now,
        scope_kind=code.scope_kind,
        scope_study_uids=list(code.scope_study_uids or []),
        scope_modality=code.scope_modality,
        scope_date_from=code.scope_date_from,
        scope_date_to=code.scope_date_to,
    )
    session.add(opened)
    session.add(CodeAttempt(account_id=account_id, code_public_id=code.public_id, succeeded=True, attempted_at=now))
    session.flush()
    pseudonym = session.scalar(select(Person.pseudonym).where(Person.id == code.person_id))
    assert pseudonym is not None  # the foreign key guarantees the person
    return Redeemed(session=opened, code=code, person_ref=pseudonym, scope=scope_of(opened))
