from __future__ import annotations

import datetime as dt

import pytest

from auth.principals import ACTING_FOR_CLAIM, PERSON_REF_CLAIM, Principal, Role
from auth.tokens import Claims, InvalidToken

AT = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def claims(role: str, institution: str | None = None, extra: dict[str, object] | None = None) -> Claims:
    return Claims(
        subject="account:1",
        role=role,
        institution=institution,
        jti="jti-1",
        issued_at=AT,
        expires_at=AT + dt.timedelta(minutes=5),
        extra=extra or {},
    )


def test_role_values_are_the_design_role_names() -> None:
    assert {role.value for role in Role} == {
        "hospital",
        "doctor",
        "patient",
        "proxy",
        "service-desk",
        "auditor",
        "admin",
    }


@pytest.mark.parametrize("role", [Role.HOSPITAL, Role.DOCTOR, Role.SERVICE_DESK])
def test_institution_roles_become_principals_bound_to_their_institution(role: Role) -> None:
    principal = Principal.from_claims(claims(role.value, institution="H1"))
    assert principal == Principal(subject="account:1", role=role, institution="H1", token_id="jti-1")


def test_patients_carry_the_person_reference_from_the_token() -> None:
    principal = Principal.from_claims(claims("patient", extra={PERSON_REF_CLAIM: "person-9"}))
    assert (principal.role, principal.person_ref, principal.institution) == (Role.PATIENT, "person-9", None)
    assert principal.acting_for is None


def test_proxies_carry_both_their_own_person_and_the_person_they_act_for() -> None:
    extra = {PERSON_REF_CLAIM: "person-9", ACTING_FOR_CLAIM: "person-7"}
    principal = Principal.from_claims(claims("proxy", extra=extra))
    assert (principal.role, principal.person_ref, principal.acting_for) == (Role.PROXY, "person-9", "person-7")


@pytest.mark.parametrize(
    ("role", "extra"),
    [
        ("proxy", {PERSON_REF_CLAIM: "person-9"}),
        ("proxy", {PERSON_REF_CLAIM: "person-9", ACTING_FOR_CLAIM: "person-9"}),
        ("patient", {PERSON_REF_CLAIM: "person-9", ACTING_FOR_CLAIM: "person-7"}),
        ("proxy", {PERSON_REF_CLAIM: "person-9", ACTING_FOR_CLAIM: 7}),
    ],
    ids=["proxy-for-nobody", "proxy-for-self", "patient-acting-for", "acting-for-int"],
)
def test_acting_for_is_exactly_the_proxies_and_never_oneself(role: str, extra: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        Principal.from_claims(claims(role, extra=extra))


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.ADMIN])
def test_operator_roles_need_neither_institution_nor_person(role: Role) -> None:
    assert Principal.from_claims(claims(role.value)).role is role


@pytest.mark.parametrize(
    ("token_claims", "detail"),
    [
        (claims("superuser"), "unknown-role"),
        (claims("HOSPITAL", institution="H1"), "unknown-role"),
        (claims("hospital"), "principal-invariant"),
        (claims("doctor"), "principal-invariant"),
        (claims("service-desk"), "principal-invariant"),
        (claims("patient"), "principal-invariant"),
        (claims("proxy", extra={PERSON_REF_CLAIM: ""}), "principal-invariant"),
        (claims("patient", extra={PERSON_REF_CLAIM: 42}), "bad-person-ref"),
    ],
    ids=["unknown", "wrong-case", "hospital", "doctor", "service-desk", "patient", "proxy-empty", "person-int"],
)
def test_claims_that_do_not_form_a_principal_are_an_invalid_token(token_claims: Claims, detail: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        Principal.from_claims(token_claims)
    assert (caught.value.code, caught.value.detail) == ("token-invalid", detail)


def test_principal_constructor_enforces_role_invariants() -> None:
    with pytest.raises(ValueError):
        Principal(subject="s", role=Role.HOSPITAL, institution=None, token_id="j")
    with pytest.raises(ValueError):
        Principal(subject="s", role=Role.PATIENT, institution=None, token_id="j")
    with pytest.raises(ValueError):
        Principal(subject="", role=Role.ADMIN, institution=None, token_id="j")
