"""Events as FHIR R4 ``AuditEvent`` resources in the style of IHE Basic Audit Log Patterns (BALP).

Mapping (``ACTION_CODINGS``, one entry per ``AuditAction``; a test exports and validates every one): ``type`` from the
DICOM audit event IDs (DCM 110100-series) or, for a patient's privacy consents (grants, one-time codes, proxy
links), the BALP RESTful pattern (``rest`` with the ``restful-interaction`` subtype, the consent as an entity of
type Consent); sign-in, refresh, act-for and desk sessions are BALP Login/Logout (DCM 110114 with 110122/110123);
break-glass is a Security Alert with Emergency Override Started/Stopped; redeeming a one-time code is the BALP
consent authorization decision (110113, ``AuthZ-Consent``); DIMSE associations are Node Authentication, stored
instances DICOM Instances Transferred. ``subtype`` always starts with the service's own action code.

``action`` C/R/U/E; ``outcome`` 0 (allowed and served), 4 (denied: a minor failure in BALP terms), 8 (failed).
Agents: the requestor (``who.identifier`` = token subject, role as text, ``network`` = client address,
``policy`` = the basis), the person a proxy or desk clerk acted for (role ``acting-for``, class PAT), and the
service as observer. Entities: the pseudonymous target, the patient pseudonym (role Patient), the consent the
basis names (``grant:<id>``, ``code:<id>``) or the event created, and the request id (BALP ``XrequestId``). The
chain position and hashes ride as extensions, so an exported event can be checked against the trail it came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imaging_cloud.audit.chain import format_time
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind

DCM = "http://dicom.nema.org/resources/ontology/DCM"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
EXTENSION_BASE = "urn:imaging-cloud:audit"
OBSERVER = "imaging-cloud"

AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"
BALP_AUTHZ = "https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"

Code = tuple[str, str, str]
"""(system, code, display)"""

APPLICATION_ACTIVITY: Code = (DCM, "110100", "Application Activity")
AUDIT_LOG_USED: Code = (DCM, "110101", "Audit Log Used")
INSTANCES_ACCESSED: Code = (DCM, "110103", "DICOM Instances Accessed")
INSTANCES_TRANSFERRED: Code = (DCM, "110104", "DICOM Instances Transferred")
EXPORT: Code = (DCM, "110106", "Export")
IMPORT: Code = (DCM, "110107", "Import")
PATIENT_RECORD: Code = (DCM, "110110", "Patient Record")
QUERY: Code = (DCM, "110112", "Query")
SECURITY_ALERT: Code = (DCM, "110113", "Security Alert")
USER_AUTHENTICATION: Code = (DCM, "110114", "User Authentication")
SECURITY_ROLES_CHANGED: Code = (DCM, "110136", "Security Roles Changed")
RESTFUL_OPERATION: Code = (AUDIT_EVENT_TYPE, "rest", "Restful Operation")

LOGIN: Code = (DCM, "110122", "Login")
LOGOUT: Code = (DCM, "110123", "Logout")
NODE_AUTHENTICATION: Code = (DCM, "110126", "Node Authentication")
EMERGENCY_OVERRIDE_STARTED: Code = (DCM, "110127", "Emergency Override Started")
EMERGENCY_OVERRIDE_STOPPED: Code = (DCM, "110138", "Emergency Override Stopped")
AUTHZ_CONSENT: Code = (BALP_AUTHZ, "AuthZ-Consent", "Authorization Decision using Roles and Consent")
CREATE: Code = (RESTFUL_INTERACTION, "create", "create")
UPDATE: Code = (RESTFUL_INTERACTION, "update", "update")
SEARCH_TYPE: Code = (RESTFUL_INTERACTION, "search-type", "search type")


@dataclass(frozen=True)
class EventCoding:
    """How one action is told in FHIR: event type, standard subtypes (after our own action code), C/R/U/D/E."""

    type: Code
    action: str
    subtypes: tuple[Code, ...] = ()


def _consent(interaction: Code, action: str) -> EventCoding:
    """A patient's privacy consent (grant, one-time code, proxy link) as a BALP RESTful operation on a Consent."""
    return EventCoding(RESTFUL_OPERATION, action, (interaction,))


ACTION_CODINGS: dict[AuditAction, EventCoding] = {
    AuditAction.SIGN_IN: EventCoding(USER_AUTHENTICATION, "E", (LOGIN,)),
    AuditAction.UPLOAD: EventCoding(IMPORT, "C"),
    AuditAction.SEARCH: EventCoding(QUERY, "E"),
    AuditAction.RETRIEVE: EventCoding(INSTANCES_ACCESSED, "R"),
    AuditAction.RETRIEVE_METADATA: EventCoding(INSTANCES_ACCESSED, "R"),
    AuditAction.RETRIEVE_FRAMES: EventCoding(INSTANCES_ACCESSED, "R"),
    AuditAction.RETRIEVE_BULKDATA: EventCoding(INSTANCES_ACCESSED, "R"),
    AuditAction.RETRIEVE_RENDERED: EventCoding(INSTANCES_ACCESSED, "R"),
    AuditAction.RETRIEVE_THUMBNAIL: EventCoding(INSTANCES_ACCESSED, "R"),
    AuditAction.REGISTER_XREF: EventCoding(PATIENT_RECORD, "C"),
    AuditAction.UPLOAD_REPORT: EventCoding(IMPORT, "C"),
    AuditAction.LIST_REPORTS: EventCoding(PATIENT_RECORD, "R"),
    AuditAction.READ_REPORT: EventCoding(PATIENT_RECORD, "R"),
    AuditAction.CREATE_INSTITUTION: EventCoding(APPLICATION_ACTIVITY, "C"),
    AuditAction.CREATE_ACCOUNT: EventCoding(SECURITY_ROLES_CHANGED, "C"),
    AuditAction.READ_AUDIT: EventCoding(AUDIT_LOG_USED, "R"),
    AuditAction.VERIFY_AUDIT: EventCoding(AUDIT_LOG_USED, "E"),
    AuditAction.EXPORT_AUDIT: EventCoding(EXPORT, "R"),
    AuditAction.CHECKPOINT_AUDIT: EventCoding(AUDIT_LOG_USED, "E"),
    AuditAction.GRANT_CREATE: _consent(CREATE, "C"),
    AuditAction.GRANT_REVOKE: _consent(UPDATE, "U"),
    AuditAction.GRANT_LIST: _consent(SEARCH_TYPE, "E"),
    AuditAction.GRANT_USES: EventCoding(AUDIT_LOG_USED, "R"),
    AuditAction.CODE_ISSUE: _consent(CREATE, "C"),
    AuditAction.CODE_REVOKE: _consent(UPDATE, "U"),
    AuditAction.CODE_LIST: _consent(SEARCH_TYPE, "E"),
    AuditAction.CODE_REDEEM: EventCoding(SECURITY_ALERT, "E", (AUTHZ_CONSENT,)),
    AuditAction.PROXY_ADD: _consent(CREATE, "C"),
    AuditAction.PROXY_REMOVE: _consent(UPDATE, "U"),
    AuditAction.PROXY_LIST: _consent(SEARCH_TYPE, "E"),
    AuditAction.REPRESENTED_LIST: _consent(SEARCH_TYPE, "E"),
    AuditAction.BREAK_GLASS: EventCoding(SECURITY_ALERT, "E", (EMERGENCY_OVERRIDE_STARTED,)),
    AuditAction.BREAK_GLASS_END: EventCoding(SECURITY_ALERT, "E", (EMERGENCY_OVERRIDE_STOPPED,)),
    AuditAction.BREAK_GLASS_LIST: EventCoding(AUDIT_LOG_USED, "R"),
    AuditAction.DESK_SESSION_START: EventCoding(USER_AUTHENTICATION, "E", (LOGIN,)),
    AuditAction.DESK_SESSION_END: EventCoding(USER_AUTHENTICATION, "E", (LOGOUT,)),
    AuditAction.DESK_REGISTER_CHILD: EventCoding(PATIENT_RECORD, "C"),
    AuditAction.ACCESS_LOG_VIEW: EventCoding(AUDIT_LOG_USED, "R"),
    AuditAction.DOCTOR_PATIENTS: EventCoding(QUERY, "E"),
    AuditAction.SIGN_OUT: EventCoding(USER_AUTHENTICATION, "E", (LOGOUT,)),
    AuditAction.REFRESH: EventCoding(USER_AUTHENTICATION, "E", (LOGIN,)),
    AuditAction.ACT_FOR: EventCoding(USER_AUTHENTICATION, "E", (LOGIN,)),
    AuditAction.BREAK_GLASS_REVIEW_LIST: EventCoding(AUDIT_LOG_USED, "R"),
    AuditAction.BREAK_GLASS_REVIEW: EventCoding(AUDIT_LOG_USED, "U"),
    AuditAction.LINK_KEY_READ: EventCoding(APPLICATION_ACTIVITY, "R"),
    AuditAction.LINK_TOKEN_ISSUE: EventCoding(PATIENT_RECORD, "E"),
    AuditAction.FLAG_LIST: EventCoding(AUDIT_LOG_USED, "R"),
    AuditAction.FLAG_REVIEW: EventCoding(AUDIT_LOG_USED, "U"),
    AuditAction.DIMSE_ASSOCIATION: EventCoding(USER_AUTHENTICATION, "E", (NODE_AUTHENTICATION,)),
    AuditAction.DIMSE_ECHO: EventCoding(APPLICATION_ACTIVITY, "E"),
    AuditAction.DIMSE_STORE: EventCoding(INSTANCES_TRANSFERRED, "C"),
}

#: Details naming the consent (or emergency/desk session) an event created, changed or used: ``key`` → is a Consent.
_CONSENT_DETAILS = {
    "grant": True,
    "code": True,
    "proxy_link": True,
    "break_glass_session": False,
    "staff_session": False,
}
#: Bases naming a consent row (``grant:12``, ``code:3``); other bases are rules, told in ``agent.policy`` only.
_CONSENT_BASES = ("grant:", "code:")

_OUTCOMES = {AuditDecision.ALLOW.value: "0", AuditDecision.DENY.value: "4", AuditDecision.ERROR.value: "8"}

_TARGET_SYSTEMS = {
    TargetKind.STUDY.value: "urn:dicom:uid",
    TargetKind.SERIES.value: "urn:dicom:uid",
    TargetKind.INSTANCE.value: "urn:dicom:uid",
    TargetKind.REPORT.value: "urn:dicom:uid",
    TargetKind.PERSON.value: f"{EXTENSION_BASE}:person-pseudonym",
    TargetKind.INSTITUTION.value: f"{EXTENSION_BASE}:institution",
    TargetKind.ACCOUNT.value: f"{EXTENSION_BASE}:actor",
    TargetKind.AUDIT_TRAIL.value: f"{EXTENSION_BASE}:trail",
    TargetKind.BREAK_GLASS_SESSION.value: f"{EXTENSION_BASE}:break-glass-session",
    TargetKind.AUDIT_FLAG.value: f"{EXTENSION_BASE}:audit-flag",
    TargetKind.AE_TITLE.value: f"{EXTENSION_BASE}:ae-title",
}


def _code(code: Code) -> dict[str, str]:
    return {"system": code[0], "code": code[1], "display": code[2]}


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return coding


def _target_entity(event: AccessEvent) -> dict[str, Any] | None:
    if event.target_kind is None or event.target_id is None:
        return None
    system = _TARGET_SYSTEMS.get(event.target_kind, f"{EXTENSION_BASE}:{event.target_kind}")
    value = f"urn:oid:{event.target_id}" if system == "urn:dicom:uid" else event.target_id
    person = event.target_kind == TargetKind.PERSON.value
    entity: dict[str, Any] = {
        "what": {"identifier": {"system": system, "value": value}},
        "type": _coding(ENTITY_TYPE, "1", "Person") if person else _coding(ENTITY_TYPE, "2", "System Object"),
        "role": _coding(OBJECT_ROLE, "1", "Patient") if person else _coding(OBJECT_ROLE, "4", "Domain Resource"),
        "name": event.target_kind,
    }
    if event.details:
        entity["detail"] = [
            {"type": "details", "valueString": json.dumps(event.details, sort_keys=True, ensure_ascii=False)}
        ]
    return entity


def _entities(event: AccessEvent) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if (target := _target_entity(event)) is not None:
        entities.append(target)
    if event.patient and event.target_kind != TargetKind.PERSON.value:
        entities.append(
            {
                "what": {"identifier": {"system": _TARGET_SYSTEMS[TargetKind.PERSON.value], "value": event.patient}},
                "type": _coding(ENTITY_TYPE, "1", "Person"),
                "role": _coding(OBJECT_ROLE, "1", "Patient"),
            }
        )
    entities.extend(_consent_entities(event))
    if event.request_id:
        entities.append(
            {
                "what": {"identifier": {"value": event.request_id}},
                "type": _coding(BALP_ENTITY_TYPE, "XrequestId", "X-Request-Id"),
            }
        )
    return entities


def _consent_entity(system: str, value: str, is_consent: bool) -> dict[str, Any]:
    return {
        "what": {"identifier": {"system": system, "value": value}},
        "type": _coding(RESOURCE_TYPES, "Consent", "Consent")
        if is_consent
        else _coding(ENTITY_TYPE, "2", "System Object"),
        "role": _coding(OBJECT_ROLE, "13", "Security Resource"),
    }


def _consent_entities(event: AccessEvent) -> list[dict[str, Any]]:
    """The consent (or emergency / desk session) the basis names, and the one the event created or changed."""
    named: dict[tuple[str, str], bool] = {}
    if event.basis and event.basis.startswith(_CONSENT_BASES):
        named[(f"{EXTENSION_BASE}:basis", event.basis)] = True
    elif event.basis and event.basis.startswith("break-glass:"):
        named[(f"{EXTENSION_BASE}:basis", event.basis)] = False
    for key, is_consent in _CONSENT_DETAILS.items():
        value = event.details.get(key) if isinstance(event.details, dict) else None
        if isinstance(value, int | str) and not isinstance(value, bool):
            named[(f"{EXTENSION_BASE}:{key.replace('_', '-')}", str(value))] = is_consent
    return [_consent_entity(system, value, is_consent) for (system, value), is_consent in named.items()]


def _acting_for(event: AccessEvent) -> dict[str, Any] | None:
    """The person a proxy or a service-desk clerk acted for: an agent on whose behalf the requestor acted."""
    if not event.acting_for:
        return None
    return {
        "who": {"identifier": {"system": _TARGET_SYSTEMS[TargetKind.PERSON.value], "value": event.acting_for}},
        "requestor": False,
        "type": {"coding": [_coding(ROLE_CLASS, "PAT", "patient")]},
        "role": [{"coding": [_coding(f"{EXTENSION_BASE}:agent-role", "acting-for", "acted for by the requestor")]}],
    }


def _requestor(event: AccessEvent) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "who": {"identifier": {"system": _TARGET_SYSTEMS[TargetKind.ACCOUNT.value], "value": event.actor}},
        "requestor": True,
        "type": {"coding": [_coding(DCM, "110153", "Source Role ID")]},
    }
    if event.actor_role:
        agent["role"] = [{"text": event.actor_role}]
    if event.institution:
        institution = {"system": _TARGET_SYSTEMS[TargetKind.INSTITUTION.value], "value": event.institution}
        agent["location"] = {"identifier": institution}
    if event.token_id:
        agent["altId"] = event.token_id
    if event.client_address:
        agent["network"] = {"address": event.client_address, "type": "2"}
    if event.basis:
        agent["policy"] = [f"{EXTENSION_BASE}:basis:{event.basis}"]
    return agent


def audit_event_resource(event: AccessEvent) -> dict[str, Any]:
    """One event as a FHIR R4 AuditEvent (JSON-ready dict)."""
    coding = ACTION_CODINGS[AuditAction(event.action)]
    agents = [_requestor(event)]
    if (represented := _acting_for(event)) is not None:
        agents.append(represented)
    agents.append(
        {
            "who": {"display": OBSERVER},
            "requestor": False,
            "type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
        }
    )
    return {
        "resourceType": "AuditEvent",
        "id": str(event.seq),
        "type": _code(coding.type),
        "subtype": [_coding(f"{EXTENSION_BASE}:action", event.action), *(_code(c) for c in coding.subtypes)],
        "action": coding.action,
        "recorded": format_time(event.occurred_at),
        "outcome": _OUTCOMES.get(event.decision, "8"),
        "outcomeDesc": f"{event.status} {event.outcome}: {event.reason}",
        "agent": agents,
        "source": {"observer": {"display": OBSERVER}, "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
        "entity": _entities(event),
        "extension": [
            {"url": f"{EXTENSION_BASE}:seq", "valueInteger": event.seq},
            {"url": f"{EXTENSION_BASE}:prev-hash", "valueString": event.prev_hash},
            {"url": f"{EXTENSION_BASE}:hash", "valueString": event.hash},
        ],
    }


def audit_bundle(events: Iterable[AccessEvent]) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle of the events' AuditEvent resources."""
    resources = [audit_event_resource(event) for event in events]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "total": len(resources),
        "entry": [{"fullUrl": f"urn:uuid:audit-event-{r['id']}", "resource": r} for r in resources],
    }


def audit_ndjson(events: Iterable[AccessEvent]) -> str:
    """One AuditEvent per line (FHIR bulk-data NDJSON)."""
    return "".join(json.dumps(audit_event_resource(event), ensure_ascii=False) + "\n" for event in events)
