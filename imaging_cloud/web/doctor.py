"""The doctor portal: current patients, a patient's one-time code, the priors timeline with the duplicate-exam
hint, and break-glass.

What a doctor may see is the API's decision alone: "my patients" is ``GET /doctor/patients`` (the same facts the
policy decides with), a patient's priors are ``GET /persons/{ref}/studies`` under the doctor's own token, so a
revoked grant or an expired session turns the next page into the API's refusal. Identifiers a doctor types (a
national ID or health card for break-glass, a patient's code) travel only in POST bodies and are never echoed
back into a page, a URL or a title.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import Response

from auth.principals import Role
from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.csrf import CsrfChecked
from imaging_cloud.web.local_time import local_time
from imaging_cloud.web.session import WebSession, require_roles
from imaging_cloud.web.templating import redirect, render

router = APIRouter(prefix="/web/doctor", include_in_schema=False)
DoctorSession = require_roles(Role.DOCTOR)

PersonRef = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]

HINT_WINDOW_DAYS = 90
"""The timeline marks a study as a possible repeat of a similar one at most this many days earlier."""
DUPLICATE_WINDOWS = (30, 90, 180, 365, 730, 1825)
"""How far back the planned-exam check may look (days), offered in the form."""
PLANNED_MODALITIES = ("CT", "MR", "CR", "DX", "US", "MG", "PT", "NM", "XA")
PLANNED_BODY_PARTS = ("CHEST", "HEAD", "ABDOMEN", "PELVIS", "SPINE", "NECK", "HEART", "BREAST", "EXTREMITY")
BREAK_GLASS_PURPOSES = ("emergency-treatment", "unconscious-patient", "other")
IDENTIFIER_KINDS = ("national_id", "health_card")
MIN_REASON_LENGTH = 10


@dataclass(frozen=True)
class Basis:
    kind: str
    """``grant``, ``one-time-code`` or ``break-glass``."""
    id: int
    scope: Mapping[str, Any]
    expires_at: str


@dataclass
class CurrentPatient:
    """One person the doctor may see now, with every basis (grant, code session, break-glass) that allows it."""

    person_ref: str
    bases: list[Basis] = field(default_factory=list)

    @property
    def emergency(self) -> bool:
        return any(basis.kind == "break-glass" for basis in self.bases)


def basis_of(entry: Mapping[str, Any]) -> Basis:
    """A ``DoctorPatientOut`` (``basis`` is ``<kind>:<id>``) as the pages use it."""
    kind, _, number = str(entry["basis"]).partition(":")
    return Basis(
        kind=kind, id=int(number) if number.isdigit() else 0, scope=entry["scope"], expires_at=entry["expires_at"]
    )


async def current_patients(session: WebSession) -> list[CurrentPatient]:
    """The doctor's patients, one entry per person, in the API's order (soonest to expire first)."""
    grouped: dict[str, CurrentPatient] = {}
    for entry in await session.api.get("/doctor/patients"):
        ref = str(entry["person_ref"])
        grouped.setdefault(ref, CurrentPatient(ref)).bases.append(basis_of(entry))
    return list(grouped.values())


async def _home(request: Request, session: WebSession, *, error: str | None = None, status_code: int = 200) -> Response:
    return render(
        request,
        "doctor/index.html",
        session,
        status_code=status_code,
        patients=await current_patients(session),
        error=error,
        local_time=local_time,
    )


@router.get("/")
async def home(request: Request, session: WebSession = DoctorSession) -> Response:
    """My current patients, and the box to type (or scan) a patient's one-time code."""
    return await _home(request, session)


@router.post("/codes/redeem")
async def redeem_code(
    request: Request,
    _csrf: CsrfChecked,
    code: Annotated[str, Form(max_length=64)] = "",
    session: WebSession = DoctorSession,
) -> Response:
    """Use the patient's code; on success straight to their priors, else the reason on the same page."""
    if not code.strip():
        return await _home(request, session, error="code-required", status_code=422)
    try:
        opened = await session.api.post("/doctor/codes/redeem", {"code": code.strip()})
    except ApiCallFailed as failure:
        if failure.status == 401:
            raise
        return await _home(request, session, error=failure.code, status_code=failure.status)
    return redirect(request, f"/web/doctor/patients/{opened['person_ref']}")


def _with_similar_studies(studies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each timeline entry with ``similar_studies``: the entries its ``recent_similar`` UIDs name."""
    by_uid = {study["study_uid"]: study for study in studies}
    return [
        {**study, "similar_studies": [by_uid[uid] for uid in study.get("recent_similar", []) if uid in by_uid]}
        for study in studies
    ]


@router.get("/patients/{person_ref}")
async def priors(
    request: Request,
    person_ref: PersonRef,
    modality: Annotated[str | None, Query(max_length=16)] = None,
    body_part: Annotated[str | None, Query(max_length=64)] = None,
    window_days: Annotated[int, Query(ge=1, le=3650)] = HINT_WINDOW_DAYS,
    session: WebSession = DoctorSession,
) -> Response:
    """Every prior of the patient the doctor may see, from every institution, newest first; with ``modality``
    (and ``body_part``) also the recent same exams a planned one would repeat."""
    timeline = await session.api.get(f"/persons/{person_ref}/studies", window_days=HINT_WINDOW_DAYS)
    mine = [patient for patient in await current_patients(session) if patient.person_ref == person_ref]
    duplicates = None
    if modality:
        duplicates = await session.api.get(
            f"/persons/{person_ref}/duplicate-check",
            modality=modality,
            body_part=body_part or None,
            window_days=window_days,
        )
    return render(
        request,
        "doctor/priors.html",
        session,
        person_ref=person_ref,
        studies=_with_similar_studies(timeline["studies"]),
        bases=mine[0].bases if mine else [],
        duplicates=duplicates,
        planned={"modality": (modality or "").upper(), "body_part": (body_part or "").upper(), "window": window_days},
        modalities=PLANNED_MODALITIES,
        body_parts=PLANNED_BODY_PARTS,
        windows=DUPLICATE_WINDOWS,
        hint_window=HINT_WINDOW_DAYS,
        local_time=local_time,
    )


async def _break_glass_page(
    request: Request,
    session: WebSession,
    *,
    error: str | None = None,
    status_code: int = 200,
    form: Mapping[str, str] | None = None,
) -> Response:
    emergencies = [patient for patient in await current_patients(session) if patient.emergency]
    return render(
        request,
        "doctor/break_glass.html",
        session,
        status_code=status_code,
        error=error,
        form=form or {},
        emergencies=emergencies,
        purposes=BREAK_GLASS_PURPOSES,
        min_reason=MIN_REASON_LENGTH,
        local_time=local_time,
    )


@router.get("/break-glass")
async def break_glass_form(request: Request, session: WebSession = DoctorSession) -> Response:
    """The emergency form, with the doctor's emergency sessions still open."""
    return await _break_glass_page(request, session)


def _break_glass_refusal(id_kind: str, identifier: str, purpose: str, reason: str) -> str | None:
    """What is missing before the API is even asked (it checks the same again)."""
    if id_kind not in IDENTIFIER_KINDS or not identifier.strip():
        return "identifier-required"
    if purpose not in BREAK_GLASS_PURPOSES:
        return "purpose-required"
    if len(reason.strip()) < MIN_REASON_LENGTH:
        return "reason-required"
    return None


@router.post("/break-glass")
async def break_glass(
    request: Request,
    _csrf: CsrfChecked,
    id_kind: Annotated[str, Form(max_length=16)] = "",
    identifier: Annotated[str, Form(max_length=64)] = "",
    purpose: Annotated[str, Form(max_length=32)] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    session: WebSession = DoctorSession,
) -> Response:
    """Open emergency access; the identifier goes to the API in the body and is never shown again."""
    kept = {"id_kind": id_kind, "purpose": purpose, "reason": reason}
    refusal = _break_glass_refusal(id_kind, identifier, purpose, reason)
    if refusal is not None:
        return await _break_glass_page(request, session, error=refusal, status_code=422, form=kept)
    body = {id_kind: identifier.strip(), "purpose": purpose, "reason": reason.strip()}
    try:
        opened = await session.api.post("/doctor/break-glass", body)
    except ApiCallFailed as failure:
        if failure.status == 401:
            raise
        return await _break_glass_page(request, session, error=failure.code, status_code=failure.status, form=kept)
    return redirect(request, f"/web/doctor/patients/{opened['person_ref']}")


@router.post("/break-glass/{session_id}/end")
async def end_break_glass(
    request: Request, _csrf: CsrfChecked, session_id: int, session: WebSession = DoctorSession
) -> Response:
    """End one's own emergency session as soon as it is no longer needed."""
    await session.api.post(f"/doctor/break-glass/{session_id}/end")
    return redirect(request, "/web/doctor/")
