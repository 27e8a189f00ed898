"""The patient cross-reference feed: a hospital registers ``(local id, issuer) → national ID / EHC``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from auth.policy import Action
from imaging_cloud.access.guards import InstitutionOfPrincipal, require_action
from imaging_cloud.audit.entry import Target
from imaging_cloud.audit.recorder import Audit, audited
from imaging_cloud.audit.vocabulary import AuditAction, TargetKind
from imaging_cloud.errors import ERROR_RESPONSES
from imaging_cloud.identity.link_tokens import DEFAULT_TTL, MAX_TTL, issue_link_token
from imaging_cloud.identity.service import XrefRegistration, institution_link_key, register_xref
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


class LinkKeyOut(BaseModel):
    link_key: str = Field(description="Hex; the calling institution's key for naming its cross-references blindly")


class LinkTokenIn(BaseModel):
    link_handle: str = Field(
        pattern="^[0-9a-fA-F]{64}$",
        description="HMAC-SHA256(link key, issuer ‖ 0x00 ‖ upper-cased local id), hex: the local id never travels",
    )
    ttl_seconds: int = Field(
        default=int(DEFAULT_TTL.total_seconds()), ge=60, le=int(MAX_TTL.total_seconds()), description="Lifetime"
    )


class LinkTokenOut(BaseModel):
    link_token: str = Field(description="Goes into PatientID of the locally de-identified objects of one study")
    expires_at: dt.datetime


@router.get(
    "/link-key",
    response_model=LinkKeyOut,
    dependencies=[Depends(require_action(Action.UPLOAD))],
)
@audited(AuditAction.LINK_KEY_READ)
def read_link_key(
    response: Response,
    institution: InstitutionOfPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
) -> LinkKeyOut:
    """The key a locally de-identifying uploader names cross-references with (derived; the same on every call)."""
    with audit.transaction() as uow:
        audit.about(Target(TargetKind.INSTITUTION, institution.code))
        audit.allow(uow.session)
    response.headers["Cache-Control"] = "no-store"
    return LinkKeyOut(link_key=institution_link_key(runtime.keys, institution.id).hex())


@router.post(
    "/link-tokens",
    response_model=LinkTokenOut,
    status_code=201,
    dependencies=[Depends(require_action(Action.UPLOAD))],
)
@audited(AuditAction.LINK_TOKEN_ISSUE)
def create_link_token(
    body: LinkTokenIn,
    response: Response,
    institution: InstitutionOfPrincipal,
    runtime: Annotated[Runtime, Depends(get_runtime)],
    audit: Audit,
) -> LinkTokenOut:
    """A short-lived token, usable only by the calling institution, that links an upload to the person of one of
    its cross-references; 404 ``xref-not-found`` when the institution registered no such cross-reference."""
    with audit.transaction() as uow:
        issued = issue_link_token(
            uow.session,
            runtime.keys,
            institution.id,
            body.link_handle,
            dt.timedelta(seconds=body.ttl_seconds),
            dt.datetime.now(dt.UTC),
        )
        # The person by pseudonym only; the token is a bearer credential and never enters the trail.
        audit.about(Target(TargetKind.PERSON, issued.pseudonym), patient=issued.pseudonym)
        audit.allow(uow.session, status=201, details={"ttl_seconds": body.ttl_seconds})
    response.headers["Cache-Control"] = "no-store"
    return LinkTokenOut(link_token=issued.token, expires_at=issued.expires_at)
