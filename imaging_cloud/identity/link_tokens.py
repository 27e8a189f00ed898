"""Link tokens: how a locally de-identified object names its person without carrying any identifier.

A hospital that de-identifies on its own machines cannot compute the person's pseudonym (the key stays in the
cloud). Before uploading a study it asks for a link token for a cross-reference it registered earlier (named by
its blinded handle, :mod:`imaging_cloud.identity.link_handles`) and writes the token into PatientID. On ingest the
cloud swaps the token for the pseudonym. A token is ``LT-`` and 32 random letters (150 bits; letters only, so no
digit run ever looks like a phone or ID number to the residue checks), stored only as a keyed hash, bound to the
institution that asked, and short-lived; it can be used for every instance of the study until it expires.
"""

from __future__ import annotations

import datetime as dt
import secrets
import string
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import ForeignKey, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from imaging_cloud.db.base import Base, UtcDateTime, utcnow
from imaging_cloud.errors import NotFound
from imaging_cloud.identity.models import PatientXref, Person
from imaging_cloud.keys import KeyRing

LINK_TOKEN_PREFIX = "LT-"  # noqa: S105 (a marker, not a secret)
_TOKEN_ALPHABET = string.ascii_uppercase
_TOKEN_LENGTH = 32
_TOKEN_HASH_KIND = "link-token"  # noqa: S105 (a hash label)
DEFAULT_TTL = dt.timedelta(hours=1)
MAX_TTL = dt.timedelta(hours=12)


class LinkToken(Base):
    """An issued token, by keyed hash: which institution may use it, for whom, until when."""

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class LinkTokenRefusal(StrEnum):
    """Why an object's link token does not name a person (the slugs ingest reports)."""

    INVALID = "link-token-invalid"
    """Never issued, or issued to another institution: the two are indistinguishable to the sender."""
    EXPIRED = "link-token-expired"


class LinkTokenRefused(Exception):
    def __init__(self, refusal: LinkTokenRefusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


@dataclass(frozen=True)
class IssuedLinkToken:
    token: str
    expires_at: dt.datetime
    pseudonym: str
    """For the audit event only; the hospital is not told it (it never needs it)."""


def is_link_token(patient_id: str) -> bool:
    """Whether a DICOM PatientID is a link token rather than a local or national id."""
    return patient_id.strip().startswith(LINK_TOKEN_PREFIX)


def issue_link_token(
    session: Session, keys: KeyRing, institution_id: int, handle: str, ttl: dt.timedelta, now: dt.datetime
) -> IssuedLinkToken:
    """A new token for the institution's cross-reference named ``handle``; 404 ``xref-not-found`` otherwise."""
    person = session.scalar(
        select(Person)
        .join(PatientXref, PatientXref.person_id == Person.id)
        .where(PatientXref.institution_id == institution_id, PatientXref.link_handle == handle.lower())
        .limit(1)
    )
    if person is None:
        raise NotFound("no cross-reference of this institution has that handle", code="xref-not-found")
    session.execute(  # housekeeping: the institution's expired tokens can never be used again
        delete(LinkToken).where(LinkToken.institution_id == institution_id, LinkToken.expires_at <= now)
    )
    token = LINK_TOKEN_PREFIX + "".join(secrets.choice(_TOKEN_ALPHABET) for _ in range(_TOKEN_LENGTH))
    expires_at = now + min(ttl, MAX_TTL)
    session.add(
        LinkToken(
            token_hash=keys.lookup_hash(_TOKEN_HASH_KIND, token),
            institution_id=institution_id,
            person_id=person.id,
            expires_at=expires_at,
            created_at=now,
        )
    )
    session.flush()
    return IssuedLinkToken(token=token, expires_at=expires_at, pseudonym=person.pseudonym)


def redeem_link_token(session: Session, keys: KeyRing, institution_id: int, token: str, now: dt.datetime) -> Person:
    """The person a token names for the institution uploading it; raise ``LinkTokenRefused`` otherwise."""
    row = session.scalar(select(LinkToken).where(LinkToken.token_hash == keys.lookup_hash(_TOKEN_HASH_KIND, token)))
    if row is None or row.institution_id != institution_id:
        raise LinkTokenRefused(LinkTokenRefusal.INVALID)
    if row.expires_at <= now:
        raise LinkTokenRefused(LinkTokenRefusal.EXPIRED)
    person = session.get(Person, row.person_id)
    if person is None:  # the person was deleted after the token was issued (cascade removes the token too)
        raise LinkTokenRefused(LinkTokenRefusal.INVALID)
    return person
