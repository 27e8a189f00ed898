"""Every action of the vocabulary exports as a valid FHIR R4 AuditEvent with a specific BALP/DICOM coding, the basis
and the consent it names, and the person a proxy or desk clerk acted for."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle

from imaging_cloud.audit.chain import append
from imaging_cloud.audit.entry import Actor, AuditEntry, Target
from imaging_cloud.audit.fhir import ACTION_CODINGS, audit_bundle, audit_event_resource
from imaging_cloud.audit.models import AccessEvent
from imaging_cloud.audit.vocabulary import AuditAction, AuditDecision, TargetKind
from imaging_cloud.runtime import Runtime
from tests.audit.conftest import all_events

PROXY = Actor("person:p-proxy", role="proxy", token_id="jti-1", acting_for="p-elder")


def _record_every_action(runtime: Runtime) -> list[AccessEvent]:
    """One allowed event per action (on a grant, by a proxy, naming a grant), then a denial and an error."""
    with runtime.units() as uow:
        for action in AuditAction:
            entry = AuditEntry(
                actor=PROXY,
                action=action,
                decision=AuditDecision.ALLOW,
                reason="allowed",
                status=200,
                basis="grant:12",
                target=Target(TargetKind.PERSON, "p-elder"),
                patient="p-elder",
                client_address="10.0.0.8",
                request_id=f"req-{action.value}",
                details={"grant": 12, "count": 1},
            )
            append(uow.session, entry)
        for decision, status in ((AuditDecision.DENY, 403), (AuditDecision.ERROR, 422)):
            append(uow.session, AuditEntry(Actor("anonymous"), AuditAction.GRANT_CREATE, decision, "no", status))
    return all_events(runtime)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_every_action_exports_as_a_valid_audit_event_with_its_own_coding(runtime: Runtime) -> None:
    assert set(ACTION_CODINGS) == set(AuditAction)
    events = _record_every_action(runtime)
    assert len(events) == len(AuditAction) + 2
    resources = [audit_event_resource(event) for event in events]
    for resource in resources:
        AuditEvent.model_validate(resource)
    Bundle.model_validate(audit_bundle(events))
    assert [r["outcome"] for r in resources[-2:]] == ["4", "8"]


def _by_action(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["subtype"][0]["code"]: r for r in resources if r["outcome"] == "0"}


def _codes(codings: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(c["system"].rsplit("/", 1)[-1], c["code"]) for c in codings]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_consents_sign_ins_and_break_glass_follow_the_balp_patterns(runtime: Runtime) -> None:
    exported = _by_action([audit_event_resource(e) for e in _record_every_action(runtime)])

    def coded(action: str) -> tuple[tuple[str, str], list[tuple[str, str]], str]:
        resource = exported[action]
        return (
            _codes([resource["type"]])[0],
            _codes(resource["subtype"][1:]),
            resource["action"],
        )

    assert coded("grant-create") == (("audit-event-type", "rest"), [("restful-interaction", "create")], "C")
    assert coded("grant-revoke") == (("audit-event-type", "rest"), [("restful-interaction", "update")], "U")
    assert coded("proxy-list") == (("audit-event-type", "rest"), [("restful-interaction", "search-type")], "E")
    assert coded("code-redeem") == (("DCM", "110113"), [("AuthZsubType", "AuthZ-Consent")], "E")
    assert coded("sign-in") == (("DCM", "110114"), [("DCM", "110122")], "E")
    assert coded("refresh") == (("DCM", "110114"), [("DCM", "110122")], "E")
    assert coded("sign-out") == (("DCM", "110114"), [("DCM", "110123")], "E")
    assert coded("desk-session-end") == (("DCM", "110114"), [("DCM", "110123")], "E")
    assert coded("break-glass") == (("DCM", "110113"), [("DCM", "110127")], "E")
    assert coded("break-glass-end") == (("DCM", "110113"), [("DCM", "110138")], "E")
    assert coded("access-log-view") == (("DCM", "110101"), [], "R")
    assert coded("dimse-store") == (("DCM", "110104"), [], "C")
    assert coded("dimse-association") == (("DCM", "110114"), [("DCM", "110126")], "E")

    grant = exported["grant-create"]
    [requestor, represented, observer] = grant["agent"]
    assert requestor["policy"] == ["urn:imaging-cloud:audit:basis:grant:12"] and requestor["requestor"]
    assert represented["who"]["identifier"]["value"] == "p-elder" and not represented["requestor"]
    assert represented["role"][0]["coding"][0]["code"] == "acting-for"
    assert observer["who"]["display"] == "imaging-cloud"
    consents = [e for e in grant["entity"] if e["type"]["code"] == "Consent"]
    assert [(e["what"]["identifier"]["value"], e["role"]["code"]) for e in consents] == [
        ("grant:12", "13"),
        ("12", "13"),
    ]
