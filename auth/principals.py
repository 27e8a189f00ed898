"""Who is asking: the role-bound principal every access decision starts from."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auth.tokens import Claims, InvalidToken


class Role(StrEnum):
    """The actors of the design's role table; values are what tokens carry in their ``role`` claim."""

    HOSPITAL = "hospital"
    DOCTOR = "doctor"
    PATIENT = "patient"
    PROXY = "proxy"
    SERVICE_DESK = "service-desk"
    AUDITOR = "auditor"
    ADMIN = "admin"


INSTITUTION_ROLES: frozenset[Role] = frozenset({Role.HOSPITAL, Role.DOCTOR, Role.SERVICE_DESK})
"""Roles that only exist as part of an institution: their principal must name one."""

PERSON_ROLES: frozenset[Role] = frozenset({Role.PATIENT, Role.PROXY})
"""Roles that are a person holding an EHC: their principal must carry that person's reference."""

PERSON_REF_CLAIM = "person_ref"
"""The token claim (in ``Claims.extra``) holding the signed-in person's pseudonymous reference."""

ACTING_FOR_CLAIM = "acting_for"
"""The token claim (in ``Claims.extra``) of a proxy token: the person the family member acts for."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller.

    ``subject`` is the token subject (an account or person identifier, never a national ID), ``token_id`` the
    token's ``jti`` (for revocation and the audit trail), ``person_ref`` the signed-in person (patients and
    proxies: the proxy's own person), ``acting_for`` whom a proxy acts for. The token only names that person;
    whether the family link still stands is a fact checked on every request.
    Construction enforces the role invariants the policy relies on.
    """

    subject: str
    role: Role
    institution: str | None
    token_id: str
    person_ref: str | None = None
    acting_for: str | None = None

    def __post_init__(self) -> None:
        if not self.subject or not self.token_id:
            raise ValueError("a principal needs a subject and a token id")
        if self.role in INSTITUTION_ROLES and not self.institution:
            raise ValueError(f"a {self.role} principal must be bound to an institution")
        if self.role in PERSON_ROLES and not self.person_ref:
            raise ValueError(f"a {self.role} principal must carry a person reference")
        if (self.role is Role.PROXY) != (self.acting_for is not None):
            raise ValueError("exactly the proxy principals name the person they act for")
        if self.acting_for is not None and self.acting_for == self.person_ref:
            raise ValueError("a person does not act as their own proxy")

    @classmethod
    def from_claims(cls, claims: Claims) -> Principal:
        """The principal a verified token describes.

        Raises ``InvalidToken`` (code ``token-invalid``) when the claims do not form a valid principal: an
        unknown role, an institution role without institution, a patient without a person reference. A token
        like that is signed by us but unusable, so the caller answers it like any other bad token (401).
        """
        try:
            role = Role(claims.role)
        except ValueError:
            raise InvalidToken("token-invalid", "unknown-role") from None
        person_ref = claims.extra.get(PERSON_REF_CLAIM)
        if person_ref is not None and not isinstance(person_ref, str):
            raise InvalidToken("token-invalid", "bad-person-ref")
        acting_for = claims.extra.get(ACTING_FOR_CLAIM)
        if acting_for is not None and not isinstance(acting_for, str):
            raise InvalidToken("token-invalid", "bad-acting-for")
        try:
            return cls(
                subject=claims.subject,
                role=role,
                institution=claims.institution,
                token_id=claims.jti,
                person_ref=person_ref,
                acting_for=acting_for,
            )
        except ValueError:
            raise InvalidToken("token-invalid", "principal-invariant") from None
