"""A doctor's current patients: every person a grant, a code session or break-glass lets the doctor see now.

Computed from the same facts the policy decides with (``load_facts``), so the list can never disagree with what
the doctor's next request is allowed.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, Field

from auth.policy import AccessFacts, ScopeKind
from auth.principals import Principal
from imaging_cloud.consent.scopes import ScopeOut


class DoctorPatientOut(BaseModel):
    person_ref: str
    basis: str = Field(description="grant:<id>, one-time-code:<id> or break-glass:<id>")
    scope: ScopeOut
    expires_at: dt.datetime


def current_patients(principal: Principal, facts: AccessFacts, now: dt.datetime) -> list[DoctorPatientOut]:
    """Each active basis the doctor has, soonest to expire first."""
    found = [
        DoctorPatientOut(
            person_ref=grant.person_ref,
            basis=f"grant:{grant.id}",
            scope=ScopeOut.of(grant.scope),
            expires_at=grant.expires_at,
        )
        for grant in facts.grants
        if grant.covers(principal, now)
    ]
    found += [
        DoctorPatientOut(
            person_ref=code.person_ref,
            basis=f"one-time-code:{code.id}",
            scope=ScopeOut.of(code.scope),
            expires_at=code.expires_at,
        )
        for code in facts.code_sessions
        if code.covers(principal, now)
    ]
    found += [
        DoctorPatientOut(
            person_ref=glass.person_ref,
            basis=f"break-glass:{glass.id}",
            scope=ScopeOut(kind=ScopeKind.ALL),
            expires_at=glass.expires_at,
        )
        for glass in facts.break_glass
        if glass.covers(principal, now)
    ]
    return sorted(found, key=lambda item: (item.expires_at, item.basis))
