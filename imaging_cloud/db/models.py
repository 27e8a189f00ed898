"""Imports every model so ``Base.metadata`` is complete (Alembic autogenerate and test schemas)."""

from imaging_cloud.accounts.models import Account
from imaging_cloud.audit.models import AccessEvent, AuditChainHead, AuditCheckpoint, AuditFlagReview
from imaging_cloud.consent.models import (
    BreakGlassSession,
    CodeAttempt,
    CodeSession,
    Grant,
    OneTimeCode,
    ProxyLink,
    StaffSession,
)
from imaging_cloud.db.base import Base
from imaging_cloud.dimse.models import DimsePeer
from imaging_cloud.identity.link_tokens import LinkToken
from imaging_cloud.identity.models import HealthCard, Institution, PatientXref, Person
from imaging_cloud.reports.models import Report
from imaging_cloud.sessions.models import RefreshToken, RevokedToken
from imaging_cloud.studies.models import Instance, Series, Study

__all__ = [
    "AccessEvent",
    "Account",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditFlagReview",
    "Base",
    "BreakGlassSession",
    "CodeAttempt",
    "CodeSession",
    "DimsePeer",
    "Grant",
    "HealthCard",
    "Instance",
    "Institution",
    "LinkToken",
    "OneTimeCode",
    "PatientXref",
    "Person",
    "ProxyLink",
    "RefreshToken",
    "Report",
    "RevokedToken",
    "Series",
    "StaffSession",
    "Study",
]
