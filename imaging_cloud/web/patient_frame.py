"""What every patient page shares: who may open it, whose data it asks for, the banner's name while acting for a
family member, the helpers its templates use (times, modalities), and an API refusal of a form put into words.

The patient pages (``patient.py`` and the ``patient_*`` modules) show the data of ``session.person_ref``: one's
own, or the represented person's while a family member acts for them. Which of them the API lets through is the
API's decision; a page only says so in words.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from starlette.datastructures import FormData

from auth.principals import Role
from imaging_cloud.web.api import ApiCallFailed
from imaging_cloud.web.local_time import local_time
from imaging_cloud.web.patient_words import modality_names
from imaging_cloud.web.session import WebSession, represented_name, require_roles
from imaging_cloud.web.templating import gettext_for, render

PatientSession = require_roles(Role.PATIENT, Role.PROXY)
"""Pages a patient, or a family member acting for one, may open."""
OwnPatientSession = require_roles(Role.PATIENT)
"""Pages only for the signed-in patient themself (family links: a proxy cannot manage the proxies)."""

_FORM_ERROR_STATUSES = frozenset({400, 404, 409, 410, 422})
"""API refusals a person can fix on the form (the rest, 403 above all, go to the error page)."""
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


def person_path(session: WebSession, suffix: str = "") -> str:
    """The API path of the shown person's consent resources, e.g. ``/persons/<ref>/grants``."""
    return f"/persons/{session.person_ref}{suffix}"


def seconds_until(value: str) -> int:
    """Whole seconds from now until an API timestamp (0 once it has passed)."""
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return max(0, int((moment - dt.datetime.now(dt.UTC)).total_seconds()))


def dicom_day(value: str) -> str | None:
    """A date input's ``2025-01-31`` as the API's ``20250131``; anything else is passed on for the API to judge."""
    value = value.strip()
    if not value:
        return None
    found = _ISO_DATE.fullmatch(value)
    return "".join(found.groups()) if found else value


def field(form: FormData, name: str) -> str:
    """A text field of a posted form, stripped ('' when absent or not text)."""
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class FormError:
    """Why the API refused what a form sent: its code and the fields it named (``scope.modality``…)."""

    code: str
    fields: tuple[str, ...] = ()


def form_error(failure: ApiCallFailed) -> FormError:
    """The refusal as shown on the form; re-raises refusals that are not about what was typed."""
    if failure.status not in _FORM_ERROR_STATUSES:
        raise failure
    names = tuple(dict.fromkeys(".".join(loc[1:]) for loc in failure.fields if len(loc) > 1 and loc[0] == "body"))
    return FormError(failure.code, names)


async def listed(session: WebSession, path: str, **params: Any) -> Any | None:
    """An API listing, or ``None`` where the API refuses it (403: the family link does not include this)."""
    try:
        return await session.api.get(path, **params)
    except ApiCallFailed as failure:
        if failure.status == 403:
            return None
        raise


async def render_patient(
    request: Request, template: str, session: WebSession, *, status_code: int = 200, **context: Any
) -> Response:
    """``render`` with what patient templates expect: the represented person's name for the banner, and the
    ``local_time`` and ``modality_word`` helpers."""
    acting_name = await represented_name(session) if session.principal.acting_for else None
    gettext = gettext_for(request)
    return render(
        request,
        template,
        session,
        status_code=status_code,
        acting_name=acting_name,
        local_time=local_time,
        modality_word=lambda code: modality_names([code], gettext)[0] if code else "",
        **context,
    )


TIMELINE_WINDOW_DAYS = 3650
"""Ten years: every study the service can hold for a person (the API's largest window)."""


async def person_studies(session: WebSession) -> list[dict[str, Any]]:
    """The shown person's studies, newest first (empty where the family link does not include viewing them)."""
    found = await listed(session, person_path(session, "/studies"), window_days=TIMELINE_WINDOW_DAYS)
    return list(found["studies"]) if found else []
