"""Which studies a grant or a one-time code covers, as the patient chooses it on a form (``patient/_scope.html``).

The form offers what the API's ``ScopeIn`` takes: all studies, some listed studies (chosen from the person's own
timeline), one modality (of those the person has), or a date range. The page only translates the form into the
API's JSON; whether the choice is valid (a listed study is the person's, dates are in order) is the API's to say.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.datastructures import FormData

from imaging_cloud.web.patient_frame import dicom_day, field
from imaging_cloud.web.patient_words import modality_names

SCOPE_KINDS = ("all", "studies", "modality", "date-range")


def scope_from_form(form: FormData) -> dict[str, Any]:
    """The API's scope object for the form's choice (only the fields that kind uses)."""
    kind = field(form, "scope_kind") or "all"
    if kind == "studies":
        return {"kind": kind, "study_uids": [v for v in form.getlist("study_uids") if isinstance(v, str) and v]}
    if kind == "modality":
        return {"kind": kind, "modality": field(form, "modality") or None}
    if kind == "date-range":
        return {
            "kind": kind,
            "date_from": dicom_day(field(form, "date_from")),
            "date_to": dicom_day(field(form, "date_to")),
        }
    return {"kind": kind}


def modality_choices(studies: list[dict[str, Any]], gettext: Callable[[str], str]) -> list[tuple[str, str]]:
    """(code, words) of every modality among the person's studies, for the modality choice."""
    codes = sorted({code for study in studies for code in study.get("modalities", [])})
    return list(zip(codes, modality_names(codes, gettext), strict=True))
