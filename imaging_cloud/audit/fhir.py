"""Events as FHIR R4 ``AuditEvent`` resources in the style of IHE Basic Audit Log Patterns (BALP).

Mapping: ``type``/``subtype`` from DICOM audit codes (DCM 110100-series) per action; ``action`` C/R/E;
``outcome`` 0 (allowed and served), 4 (denied: a minor failure in BALP terms), 8 (failed); the actor is the
requesting agent (``who.identifier`` = token subject, role as text, ``network`` = client address, ``policy`` =
the basis); the service is the observer and the second agent; entities are the pseudonymous target, the
patient pseudonym (role Patient), and the request id (BALP ``XrequestId``). The chain position and hashes ride
as extensions, so an exported event can be checked against the trail it came from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
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

_EVENT_TYPES: dict[str, tuple[str, str]] = {
    "110100": ("110100", "Application Activity"),
    "110101": ("110101", "Audit Log Used"),
    "110103": ("110103", "DICOM Instances Accessed"),
    "110106": ("110106", "Export"),
    "110107": ("110107", "Import"),
    "110110": ("110110", "Patient Record"),
    "110112": ("110112", "Query"),
    "110114": ("110114", "User Authentication"),
    "110136": ("110136", "Security Roles Changed"),
}

#: action → (event type code, FHIR action code C/R/U/D/E)
_ACTIONS: dict[AuditAction, tuple[str, str]] = {
    AuditAction.SIGN_IN: ("110114", "E"),
    AuditAction.UPLOAD: ("110107", "C"),
    AuditAction.SEARCH: ("110112", "E"),
    AuditAction.RETRIEVE: ("110103", "R"),
    AuditAction.RETRIEVE_METADATA: ("110103", "R"),
    AuditAction.RETRIEVE_FRAMES: ("110103", "R"),
    AuditAction.RETRIEVE_BULKDATA: ("110103", "R"),
    AuditAction.RETRIEVE_RENDERED: ("110103", "R"),
    AuditAction.RETRIEVE_THUMBNAIL: ("110103", "R"),
    AuditAction.REGISTER_XREF: ("110110", "C"),
    AuditAction.UPLOAD_REPORT: ("110107", "C"),
    AuditAction.LIST_REPORTS: ("110110", "R"),
    AuditAction.READ_REPORT: ("110110", "R"),
    AuditAction.CREATE_INSTITUTION: ("110100", "C"),
    AuditAction.CREATE_ACCOUNT: ("110136", "C"),
    AuditAction.READ_AUDIT: ("110101", "R"),
    AuditAction.VERIFY_AUDIT: ("110101", "E"),
    AuditAction.EXPORT_AUDIT: ("110106", "R"),
    AuditAction.CHECKPOINT_AUDIT: ("110101", "E"),
}

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
}


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
    if event.request_id:
        entities.append(
            {
                "what": {"identifier": {"value": event.request_id}},
                "type": _coding(BALP_ENTITY_TYPE, "XrequestId", "X-Request-Id"),
            }
        )
    return entities


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
    type_code, action_code = _ACTIONS.get(AuditAction(event.action), ("110100", "E"))
    code, display = _EVENT_TYPES[type_code]
    return {
        "resourceType": "AuditEvent",
        "id": str(event.seq),
        "type": _coding(DCM, code, display),
        "subtype": [_coding(f"{EXTENSION_BASE}:action", event.action)],
        "action": action_code,
        "recorded": format_time(event.occurred_at),
        "outcome": _OUTCOMES.get(event.decision, "8"),
        "outcomeDesc": f"{event.status} {event.outcome}: {event.reason}",
        "agent": [
            _requestor(event),
            {
                "who": {"display": OBSERVER},
                "requestor": False,
                "type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
            },
        ],
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
