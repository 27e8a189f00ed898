"""The auditor's dashboard: search the trail, see that its chain verifies, export it, and review flags.

Everything comes from the audit API with the auditor's own token (so every view is itself on the trail), and no
page shows an image. Filters travel in the query string only when they are pseudonymous (actor subjects, person
pseudonyms, action names); finding a person by national ID or health card is a POST whose answer redirects to the
person's pseudonym. Times are shown and typed in the service's local zone (the office-hours zone of the flags).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import Response

from auth.principals import Role
from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.csrf import CsrfChecked
from imaging_cloud.web.i18n import N_
from imaging_cloud.web.session import WebSession, require_roles
from imaging_cloud.web.templating import gettext_for, redirect, render

router = APIRouter(prefix="/web/audit", include_in_schema=False)
AuditorSession = require_roles(Role.AUDITOR)

PAGE_SIZE = 50
FLAG_PAGE_SIZE = 50
EXPORT_LIMIT = 10_000
"""The most events one export holds (the API's ``MAX_EXPORT``; a test keeps them equal)."""
NOTE_MIN, NOTE_MAX = 3, 1000


# -- the audit vocabulary in words (values are the API's; a test keeps the tables complete) ------------------------

ACTION_LABELS: dict[str, str] = {
    "sign-in": N_("Signed in"),
    "upload": N_("Uploaded a study"),
    "search": N_("Searched studies"),
    "retrieve": N_("Retrieved images"),
    "retrieve-metadata": N_("Retrieved image metadata"),
    "retrieve-frames": N_("Retrieved frames"),
    "retrieve-bulkdata": N_("Retrieved bulk data"),
    "retrieve-rendered": N_("Viewed rendered images"),
    "retrieve-thumbnail": N_("Viewed thumbnails"),
    "register-xref": N_("Registered a patient ID"),
    "upload-report": N_("Uploaded a report"),
    "list-reports": N_("Listed reports"),
    "read-report": N_("Read a report"),
    "create-institution": N_("Created an institution"),
    "create-account": N_("Created an account"),
    "read-audit": N_("Read the audit trail"),
    "verify-audit": N_("Verified the audit chain"),
    "export-audit": N_("Exported the audit trail"),
    "checkpoint-audit": N_("Signed an audit checkpoint"),
    "grant-create": N_("Created a grant"),
    "grant-revoke": N_("Revoked a grant"),
    "grant-list": N_("Listed grants"),
    "grant-uses": N_("Viewed the uses of a grant"),
    "code-issue": N_("Issued a one-time code"),
    "code-revoke": N_("Revoked a one-time code"),
    "code-list": N_("Listed one-time codes"),
    "code-redeem": N_("Redeemed a one-time code"),
    "proxy-add": N_("Added a family proxy"),
    "proxy-remove": N_("Removed a family proxy"),
    "proxy-list": N_("Listed family proxies"),
    "represented-list": N_("Listed represented persons"),
    "break-glass": N_("Opened emergency access"),
    "break-glass-end": N_("Ended emergency access"),
    "break-glass-list": N_("Listed emergency accesses"),
    "desk-session-start": N_("Started a service desk session"),
    "desk-session-end": N_("Ended a service desk session"),
    "desk-register-child": N_("Registered a child at the desk"),
    "access-log-view": N_("Viewed an access log"),
    "doctor-patients": N_("Listed a doctor's patients"),
    "sign-out": N_("Signed out"),
    "refresh": N_("Refreshed a sign-in"),
    "act-for": N_("Acted for a family member"),
    "break-glass-review-list": N_("Listed emergency accesses to review"),
    "break-glass-review": N_("Reviewed an emergency access"),
    "link-key-read": N_("Read the link key"),
    "link-token-issue": N_("Issued a link token"),
    "flag-list": N_("Listed review flags"),
    "flag-review": N_("Reviewed a flag"),
    "dimse-association": N_("DICOM association"),
    "dimse-echo": N_("DICOM echo"),
    "dimse-store": N_("DICOM store"),
}
DECISION_LABELS: dict[str, str] = {"allow": N_("Allowed"), "deny": N_("Denied"), "error": N_("Failed")}
ROLE_LABELS: dict[str, str] = {
    "patient": N_("Patient"),
    "proxy": N_("Family proxy"),
    "doctor": N_("Doctor"),
    "hospital": N_("Hospital system"),
    "service-desk": N_("Service desk clerk"),
    "auditor": N_("Auditor"),
    "admin": N_("Administrator"),
}
TARGET_KIND_LABELS: dict[str, str] = {
    "study": N_("Study"),
    "series": N_("Series"),
    "instance": N_("Image"),
    "report": N_("Report"),
    "person": N_("Person"),
    "institution": N_("Institution"),
    "account": N_("Account"),
    "audit-trail": N_("Audit trail"),
    "break-glass": N_("Emergency access"),
    "audit-flag": N_("Review flag"),
    "ae-title": N_("DICOM node"),
}
BASIS_LABELS: dict[str, str] = {
    "own-data": N_("Own data"),
    "proxy": N_("Family proxy link"),
    "own-upload": N_("Own upload"),
    "own-institution": N_("Own institution"),
    "grant": N_("Grant"),
    "one-time-code": N_("One-time code"),
    "break-glass": N_("Emergency access"),
    "staff-assisted": N_("In-person service"),
    "administrator": N_("Administration"),
    "auditor": N_("Audit"),
    "role": N_("Role"),
    "credentials": N_("Account and password"),
    "ehc-identity": N_("Health card identity"),
    "refresh-token": N_("Refresh token"),
    "own-session": N_("Own sign-in"),
    "operator": N_("Service operator"),
    "dimse-peer": N_("Registered DICOM node"),
}
FLAG_KIND_LABELS: dict[str, str] = {
    "break-glass": N_("Emergency access"),
    "bulk-access": N_("Bulk access"),
    "outside-office-hours": N_("Outside office hours"),
    "renewed-grant": N_("Grant renewed after expiry"),
    "repeated-denials": N_("Repeated denials"),
}
PURPOSE_LABELS: dict[str, str] = {
    "emergency-treatment": N_("Emergency treatment"),
    "unconscious-patient": N_("Unconscious patient"),
    "other": N_("Other"),
}
FINDING_LABELS: dict[str, str] = {
    "sequence-gap": N_("An event is missing"),
    "prev-hash-mismatch": N_("An event does not link to the one before it"),
    "hash-mismatch": N_("An event was changed after it was written"),
    "head-missing": N_("The chain head is missing"),
    "head-mismatch": N_("The chain head does not name the last event"),
    "checkpoint-event-missing": N_("A signed checkpoint names a missing event"),
    "checkpoint-hash-mismatch": N_("An event differs from the one a checkpoint signed"),
    "checkpoint-signature-invalid": N_("A checkpoint's signature is invalid"),
    "checkpoint-key-unknown": N_("A checkpoint was signed by an untrusted key"),
}
NOTICES: dict[str, tuple[str, str]] = {
    "flag-reviewed": ("success", N_("The flag is marked reviewed.")),
    "break-glass-reviewed": ("success", N_("The emergency access is marked reviewed.")),
    "already-reviewed": ("warning", N_("Someone else reviewed it already.")),
    "not-found": ("warning", N_("It no longer exists.")),
    "note-too-short": ("warning", N_("Write a note of at least 3 characters.")),
    "person-not-found": ("warning", N_("The trail has no events about this person.")),
    "person-identifier-invalid": ("warning", N_("Enter one valid national ID or health card number.")),
}
"""``?notice=<code>`` after a form: (alert style, message)."""


class Labels:
    """The audit vocabulary in the reader's language; a value the tables do not know is shown as it is."""

    def __init__(self, gettext: Callable[[str], str]) -> None:
        self._ = gettext

    def _of(self, table: Mapping[str, str], value: str | None) -> str:
        if value is None:
            return ""
        return self._(table[value]) if value in table else value

    def action(self, value: str | None) -> str:
        return self._of(ACTION_LABELS, value)

    def decision(self, value: str | None) -> str:
        return self._of(DECISION_LABELS, value)

    def role(self, value: str | None) -> str:
        return self._of(ROLE_LABELS, value)

    def target_kind(self, value: str | None) -> str:
        return self._of(TARGET_KIND_LABELS, value)

    def flag_kind(self, value: str | None) -> str:
        return self._of(FLAG_KIND_LABELS, value)

    def purpose(self, value: str | None) -> str:
        return self._of(PURPOSE_LABELS, value)

    def finding(self, value: str | None) -> str:
        return self._of(FINDING_LABELS, value)

    def basis(self, value: str | None) -> str:
        """``grant:12`` → ``Grant #12``."""
        if not value:
            return ""
        kind, _, number = value.partition(":")
        label = self._of(BASIS_LABELS, kind)
        return f"{label} #{number}" if number else label

    def choices(self, table: Mapping[str, str]) -> list[tuple[str, str]]:
        return [(value, self._(message)) for value, message in table.items()]


@dataclass(frozen=True)
class Clock:
    """Times as the auditor reads and types them: wall-clock in the service's zone, to the second."""

    zone: ZoneInfo

    def show(self, value: str | dt.datetime | None) -> str:
        moment = _aware(value)
        return moment.astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    def typed(self, text: str) -> dt.datetime:
        """A ``datetime-local`` value (or ISO text; without an offset it is wall-clock time in the zone)."""
        parsed = dt.datetime.fromisoformat(text)
        return parsed.replace(tzinfo=self.zone) if parsed.tzinfo is None else parsed

    def input_value(self, value: dt.datetime | None) -> str:
        return value.astimezone(self.zone).strftime("%Y-%m-%dT%H:%M:%S") if value else ""


def _aware(value: str | dt.datetime | None) -> dt.datetime | None:
    if value is None or value == "":
        return None
    moment = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(value)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment


def clock_of(request: Request) -> Clock:
    return Clock(ZoneInfo(request.app.state.runtime.settings.audit_office_timezone))


def _notice(params: Mapping[str, str]) -> tuple[str, str] | None:
    return NOTICES.get(params.get("notice", ""))


# -- the trail -------------------------------------------------------------------------------------------------------

#: Text filters the API matches exactly, with the API's length limits.
TEXT_FILTERS: dict[str, int] = {"actor": 128, "patient": 64, "institution": 64, "basis": 128, "target": 128}
#: What a national ID looks like: never sent on as a filter (the person search takes it, in a POST body).
NATIONAL_ID_SHAPE = re.compile(r"\d{17}[\dXx]|\d{15}")
#: The same, as the inputs' ``pattern`` (the browser refuses to put an ID into the address in the first place).
NOT_AN_IDENTIFIER_PATTERN = r"(?!\d{17}[\dXx]$|\d{15}$).*"


@dataclass(frozen=True)
class TrailQuery:
    """The trail filters of one page view, checked before they reach the API (a bad one is named, not sent)."""

    values: dict[str, str] = field(default_factory=dict)
    """Set filters by API parameter name (times as ISO 8601 with their offset)."""
    shown: dict[str, str] = field(default_factory=dict)
    """What the form's inputs show again (times as ``datetime-local`` values)."""
    after_seq: int = 0
    problems: tuple[str, ...] = ()
    """Names of the filters that were not valid."""
    identifier_typed: bool = False
    """A text filter looked like a national ID (not searched, not shown again)."""

    @classmethod
    def of(cls, params: Mapping[str, str], clock: Clock) -> TrailQuery:
        values: dict[str, str] = {}
        shown: dict[str, str] = {}
        problems: list[str] = []
        identifier_typed = False
        for name, limit in TEXT_FILTERS.items():
            text = params.get(name, "").strip()
            if NATIONAL_ID_SHAPE.fullmatch(text):
                identifier_typed = True
                problems.append(name)
            elif text:
                shown[name] = text
                if len(text) > limit:
                    problems.append(name)
                else:
                    values[name] = text
        for name, table in (("action", ACTION_LABELS), ("decision", DECISION_LABELS)):
            text = params.get(name, "").strip()
            if text:
                shown[name] = text
                if text in table:
                    values[name] = text
                else:
                    problems.append(name)
        times: dict[str, dt.datetime] = {}
        for name in ("since", "until"):
            text = params.get(name, "").strip()
            if not text:
                continue
            try:
                times[name] = clock.typed(text)
            except ValueError:
                shown[name] = text
                problems.append(name)
                continue
            shown[name] = clock.input_value(times[name])
            values[name] = times[name].isoformat()
        if "since" in times and "until" in times and times["since"] >= times["until"]:
            problems.append("until")
        after = params.get("after_seq", "")
        after_seq = int(after) if after.isdigit() and len(after) < 19 else 0
        return cls(
            values=values,
            shown=shown,
            after_seq=after_seq,
            problems=tuple(problems),
            identifier_typed=identifier_typed,
        )

    @property
    def filtered(self) -> bool:
        return bool(self.values)

    def page_url(self, after_seq: int | None = None) -> str:
        """This search at another page (``after_seq``), or from its first event."""
        params = dict(self.shown)
        if after_seq:
            params["after_seq"] = str(after_seq)
        return "/web/audit/" + ("?" + urlencode(params) if params else "")

    def export_url(self, export_format: str) -> str:
        """The API's export of the same filters: the browser downloads it with its own cookie."""
        return "/audit/export?" + urlencode({**self.values, "format": export_format})


def _last(checkpoints: list[dict[str, Any]]) -> dict[str, Any] | None:
    return max(checkpoints, key=lambda c: (c["seq"], c["created_at"])) if checkpoints else None


@router.get("/")
async def trail(request: Request, session: WebSession = AuditorSession) -> Response:
    """The chain's verification, then the events matching the filters, oldest first, a page at a time."""
    clock = clock_of(request)
    query = TrailQuery.of(request.query_params, clock)
    verification = await session.api.get("/audit/verify")
    checkpoints = await session.api.get("/audit/checkpoints")
    events: list[dict[str, Any]] = []
    next_url = None
    newest_from = max(0, int(verification["last_seq"]) - PAGE_SIZE)
    if not query.problems:
        found = await session.api.get(
            "/audit/events", **query.values, after_seq=query.after_seq or None, limit=PAGE_SIZE
        )
        events = found["events"]
        next_url = query.page_url(found["next_after_seq"]) if found["next_after_seq"] else None
    labels = Labels(gettext_for(request))
    return render(
        request,
        "audit/trail.html",
        session,
        query=query,
        verification=verification,
        last_checkpoint=_last(checkpoints),
        events=events,
        next_url=next_url,
        first_url=query.page_url() if query.after_seq else None,
        latest_url=query.page_url(newest_from)
        if not query.filtered and newest_from - query.after_seq >= PAGE_SIZE
        else None,
        labels=labels,
        actions=labels.choices(ACTION_LABELS),
        decisions=labels.choices(DECISION_LABELS),
        clock=clock,
        zone=clock.zone.key,
        export_limit=EXPORT_LIMIT,
        not_an_identifier=NOT_AN_IDENTIFIER_PATTERN,
        notice=_notice(request.query_params),
    )


@router.post("/person")
async def find_person(
    request: Request,
    _csrf: CsrfChecked,
    identifier_kind: Annotated[str, Form(max_length=16)],
    identifier: Annotated[str, Form(max_length=64)],
    session: WebSession = AuditorSession,
) -> Response:
    """The trail of the person a national ID or health card names: the identifier goes to the API in a POST body,
    and the browser is sent on to the filter by the person's pseudonym (never the identifier) in the address."""
    identifier = identifier.strip().replace(" ", "")
    if identifier_kind not in {"national_id", "health_card"} or not identifier:
        return redirect(request, "/web/audit/?notice=person-identifier-invalid")
    if identifier_kind == "national_id" and not 15 <= len(identifier) <= 18:
        return redirect(request, "/web/audit/?notice=person-identifier-invalid")
    try:
        found = await session.api.post("/audit/events/search", {identifier_kind: identifier, "limit": 1})
    except ApiCallFailed as failure:
        if failure.status in {400, 422}:
            return redirect(request, "/web/audit/?notice=person-identifier-invalid")
        raise
    pseudonym = next((event["patient"] for event in found["events"] if event["patient"]), None)
    if pseudonym is None:
        return redirect(request, "/web/audit/?notice=person-not-found")
    return redirect(request, "/web/audit/?" + urlencode({"patient": pseudonym}))


# -- flags and emergency accesses to review --------------------------------------------------------------------------

SHOW_CHOICES: dict[str, str] = {
    "open": N_("Awaiting review"),
    "reviewed": N_("Reviewed"),
    "all": N_("All"),
}
_REVIEWED_PARAM: dict[str, bool | None] = {"open": False, "reviewed": True, "all": None}


@dataclass(frozen=True)
class FlagView:
    """Which flags the page lists: review state, one kind or all, and the paging cursor."""

    show: str = "open"
    kind: str = ""
    before_seq: int | None = None
    before_id: str | None = None

    @classmethod
    def of(cls, params: Mapping[str, str]) -> FlagView:
        show = params.get("show", "open")
        kind = params.get("kind", "")
        before_seq, before_id = params.get("before_seq", ""), params.get("before_id", "")
        cursor = before_seq.isdigit() and len(before_seq) < 19 and 0 < len(before_id) <= 256
        return cls(
            show=show if show in SHOW_CHOICES else "open",
            kind=kind if kind in FLAG_KIND_LABELS else "",
            before_seq=int(before_seq) if cursor else None,
            before_id=before_id if cursor else None,
        )

    def url(self, **changes: Any) -> str:
        params = {"show": self.show, "kind": self.kind, **changes}
        return "/web/audit/flags?" + urlencode({name: value for name, value in params.items() if value})


async def _break_glass_sessions(session: WebSession, show: str) -> list[dict[str, Any]]:
    """Emergency accesses newest first (the API lists one review state at a time: "all" asks for both)."""
    states = [False, True] if show == "all" else [show == "reviewed"]
    listed: list[dict[str, Any]] = []
    for reviewed in states:
        listed.extend(await session.api.get("/audit/break-glass", reviewed=reviewed, limit=FLAG_PAGE_SIZE))
    return sorted(listed, key=lambda row: (row["created_at"], row["id"]), reverse=True)


@router.get("/flags")
async def flags(request: Request, session: WebSession = AuditorSession) -> Response:
    """Emergency accesses (with the doctor's stated reason) and the flags computed from the chain, each with a
    review form until an auditor has reviewed it, then with the reviewer and the note."""
    view = FlagView.of(request.query_params)
    params: dict[str, Any] = {"reviewed": _REVIEWED_PARAM[view.show], "limit": FLAG_PAGE_SIZE}
    if view.kind:
        params["kind"] = view.kind
    if view.before_seq is not None:
        params.update(before_seq=view.before_seq, before_id=view.before_id)
    found = await session.api.get("/audit/flags", **params)
    with_sessions = view.before_seq is None and view.kind in {"", "break-glass"}
    sessions = await _break_glass_sessions(session, view.show) if with_sessions else []
    labels = Labels(gettext_for(request))
    next_url = (
        view.url(before_seq=found["next_before_seq"], before_id=found["next_before_id"])
        if found["next_before_seq"] is not None
        else None
    )
    return render(
        request,
        "audit/flags.html",
        session,
        view=view,
        flags=found["flags"],
        sessions=sessions,
        with_sessions=with_sessions,
        next_url=next_url,
        labels=labels,
        shows=labels.choices(SHOW_CHOICES),
        kinds=labels.choices(FLAG_KIND_LABELS),
        clock=clock_of(request),
        zone=clock_of(request).zone.key,
        note_min=NOTE_MIN,
        note_max=NOTE_MAX,
        notice=_notice(request.query_params),
    )


async def _review(request: Request, session: WebSession, api_path: str, note: str, done: str) -> Response:
    """Post a review note to the API and go back to the list the form was on (PRG); a lost race is said so."""
    form = await request.form()
    back = FlagView.of({name: str(form.get(name, "")) for name in ("show", "kind")})
    note = note.strip()
    if not NOTE_MIN <= len(note) <= NOTE_MAX:
        return redirect(request, back.url(notice="note-too-short"))
    try:
        await session.api.post(api_path, {"note": note})
    except ApiCallFailed as failure:
        if failure.status in {404, 409}:
            return redirect(request, back.url(notice="already-reviewed" if failure.status == 409 else "not-found"))
        raise
    return redirect(request, back.url(notice=done))


@router.post("/flags/{flag_id}/review")
async def review_flag(
    request: Request,
    _csrf: CsrfChecked,
    flag_id: Annotated[str, Path(min_length=1, max_length=256)],
    note: Annotated[str, Form(max_length=2000)] = "",
    session: WebSession = AuditorSession,
) -> Response:
    path = f"/audit/flags/{quote(flag_id, safe='')}/review"
    return await _review(request, session, path, note, "flag-reviewed")


@router.post("/break-glass/{session_id}/review")
async def review_break_glass(
    request: Request,
    _csrf: CsrfChecked,
    session_id: Annotated[int, Path(ge=1)],
    note: Annotated[str, Form(max_length=2000)] = "",
    session: WebSession = AuditorSession,
) -> Response:
    path = f"/audit/break-glass/{session_id}/review"
    return await _review(request, session, path, note, "break-glass-reviewed")
