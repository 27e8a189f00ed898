"""The patient cross-reference feed: a hospital registers ``(local id, issuer) → national ID / EHC``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from auth.policy import Action
from imaging_cloud.access.guards import InstitutionOfPrincipal, require_action
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES
from imaging_cloud.identity.service import XrefRegistration, register_xref
from imaging_cloud.runtime import Runtime, get_runtime

router = APIRouter(prefix="/patients", tags=["patients"], responses=ERROR_RESPONSES)


class XrefIn(BaseModel):
    patient_id: str = Field(min_length=1, max_length=64, description="The hospital's local patient id")
    issuer: str = Field(default="", max_length=64, description="IssuerOfPatientID, empty if none")
    national_id: str = Field(min_length=18, max_length=18, description="18-digit national ID (身份证号)")
    health_card: str | None = Field(default=None, max_length=64, description="Electronic health card number")
    name: str | None = Field(default=None, max_length=128, description="Name, kept encrypted, used for scrubbing")
    sex: str | None = Field(default=None, pattern="^[MFO]$")


class XrefOut(BaseModel):
    created: bool
    pseudonym: str
    """The PatientID the person's de-identified objects carry (no PHI)."""


@router.post(
    "/xrefs",
    response_model=XrefOut,
    status_code=201,
    dependencies=[Depends(require_action(Action.REGISTER_XREF))],
)
@audited(AuditAction.REGISTER_XREF)
def register_patient_xref(
    body: XrefIn,
    response: Response,
    institution: InstitutionOfPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
) -> XrefOut:
    """Register a local patient id; 201 when new, 200 when already registered identically, 409 on conflict."""
    with audit.transaction() as uow:
        person, created = register_xref(
            uow.session,
            runtime.keys,
            institution,
            XrefRegistration(
                patient_id=body.patient_id,
                issuer=body.issuer,
                national_id=body.national_id,
                health_card=body.health_card,
                name=body.name,
                sex=body.sex,
            ),
        )
        pseudonym = person.pseudonym
        # The person by pseudonym only: the local id, national ID, card and name never enter the trail.
        audit.about(Target(TargetKind.PERSON, pseudonym), patient=pseudonym)
        audit.allow(uow.session, status=201 if created else 200, details={"created": created})
    if not created:
        response.status_code = 200
    return XrefOut(created=created, pseudonym=pseudonym)
