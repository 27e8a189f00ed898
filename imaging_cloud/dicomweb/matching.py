"""QIDO-RS attribute matching (PS3.4 C.2.2.2, PS3.18 §8.3.4) translated into SQL conditions.

Each matching key becomes a condition over one row of ``Instance ⋈ Series ⋈ Study``; the search then keeps the
studies / series / instances that have a *visible* instance row satisfying all conditions. Where the index has a
column for the attribute (UIDs, dates, modality, descriptions, numbers) that column is used; any other attribute
is matched inside the level's stored DICOM JSON (study, series, or the instance's full metadata).

Matching rules:

* empty value or ``*``: universal matching (no condition; the attribute is returned);
* UI: single value or a UID list separated by ``,`` or ``\\`` (no wildcards);
* DA / TM: single value or range ``a-b``, ``a-``, ``-b`` (DA as ``YYYYMMDD``);
* CS: single value, wildcard, or a list separated by ``\\`` or ``,`` (any of);
* numbers (IS, DS, US, …): exact numeric equality;
* PN: case-insensitive, wildcard ``*``/``?`` allowed, against the alphabetic, ideographic or phonetic group;
* other text: exact (case-sensitive) or with wildcards ``*``/``?`` (then case-insensitive, the same on SQLite
  and PostgreSQL);
* ``fuzzymatching=true``: PN matches a case-insensitive prefix of any name component; LO, SH, ST, LT, UT and
  UC match a case-insensitive substring.

Multi-valued attributes stored as JSON are matched on their first value (index columns are exact).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from sqlalchemy import ColumnElement, and_, false, func, literal, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from imaging_cloud.dicomweb.attributes import SERIES_KEYWORDS, STUDY_KEYWORDS
from imaging_cloud.errors import BadRequest
from imaging_cloud.identity.models import Person
from imaging_cloud.studies.models import Instance, Series, Study


class Level(StrEnum):
    STUDY = "study"
    SERIES = "series"
    INSTANCE = "instance"


@dataclass(frozen=True)
class Attribute:
    """A public DICOM attribute named by a query key (keyword or 8-digit hex tag)."""

    tag: int
    keyword: str
    vr: str

    @property
    def hex(self) -> str:
        return f"{self.tag:08X}"

    @classmethod
    def resolve(cls, key: str) -> Attribute | None:
        """The attribute ``key`` names, or None if it names no public attribute of the data dictionary."""
        tag = int(key, 16) if re.fullmatch(r"[0-9A-Fa-f]{8}", key) else tag_for_keyword(key)
        if tag is None or (tag >> 16) % 2:
            return None
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
        return cls(tag=tag, keyword=keyword_for_tag(tag), vr=vr.split(" or ")[0])


#: Computed per result from visible instances; the index cannot filter on them.
COMPUTED_KEYWORDS = frozenset(
    {
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        "NumberOfSeriesRelatedInstances",
        "RetrieveURL",
        "InstanceAvailability",
    }
)
_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN", "SQ"})
_NUMERIC_VRS = frozenset({"IS", "DS", "US", "UL", "SS", "SL", "FL", "FD", "SV", "UV"})
_FUZZY_TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_DATE = re.compile(r"[0-9]{8}")
_TIME = re.compile(r"[0-9]{2}([0-9]{2}([0-9]{2}(\.[0-9]{1,6})?)?)?")
_ESCAPE = "!"

#: Attributes the index holds as columns (string columns unless listed in ``_INTEGER_COLUMNS``).
_COLUMNS: dict[str, InstrumentedAttribute[Any]] = {
    "StudyInstanceUID": Study.study_uid,
    "StudyDate": Study.study_date,
    "StudyTime": Study.study_time,
    "AccessionNumber": Study.accession_number,
    "StudyDescription": Study.study_description,
    "StudyID": Study.study_id,
    "PatientID": Person.pseudonym,
    "SeriesInstanceUID": Series.series_uid,
    "Modality": Series.modality,
    "ModalitiesInStudy": Series.modality,
    "SeriesDescription": Series.series_description,
    "SeriesNumber": Series.series_number,
    "BodyPartExamined": Series.body_part,
    "SOPInstanceUID": Instance.sop_uid,
    "SOPClassUID": Instance.sop_class_uid,
    "InstanceNumber": Instance.instance_number,
    "NumberOfFrames": Instance.number_of_frames,
    "Rows": Instance.rows,
    "Columns": Instance.columns,
}
_INTEGER_COLUMNS = frozenset({"SeriesNumber", "InstanceNumber", "NumberOfFrames", "Rows", "Columns"})
_STUDY_ONLY = frozenset({"ModalitiesInStudy"})


@dataclass(frozen=True)
class Filter:
    """One matching key with its (raw, not yet validated) value."""

    attribute: Attribute
    value: str

    @property
    def is_universal(self) -> bool:
        return self.value in ("", "*")


def check_matchable(attribute: Attribute, level: Level) -> None:
    """400 for attributes this service cannot match on at ``level`` (so a filter is never silently ignored)."""
    if attribute.keyword in COMPUTED_KEYWORDS:
        raise BadRequest(
            "this attribute is computed and cannot be used as a matching key",
            code="unsupported-matching-key",
            detail={"key": attribute.keyword},
        )
    if attribute.keyword in _STUDY_ONLY and level is not Level.STUDY:
        raise BadRequest(
            "this attribute is a matching key of study searches only",
            code="unsupported-matching-key",
            detail={"key": attribute.keyword},
        )
    if attribute.vr in _BINARY_VRS:
        raise BadRequest(
            "sequence and binary attributes cannot be used as matching keys",
            code="unsupported-matching-key",
            detail={"key": attribute.keyword},
        )


def condition(match: Filter, *, fuzzy: bool) -> ColumnElement[bool]:
    """The SQL condition for ``match`` over one ``Instance ⋈ Series ⋈ Study`` row (400 on an invalid value)."""
    if match.is_universal:
        return true()
    attribute = match.attribute
    column = _COLUMNS.get(attribute.keyword)
    if attribute.keyword == "PatientID":
        inner = _value_condition(Person.pseudonym, attribute, match.value, fuzzy)
        return Study.person_id.in_(select(Person.id).where(inner))
    if column is not None and attribute.keyword in _INTEGER_COLUMNS:
        return _integer_condition(column, attribute, match.value)
    if column is not None:
        return _value_condition(column, attribute, match.value, fuzzy)
    return _json_condition(attribute, match.value, fuzzy)


def _json_condition(attribute: Attribute, value: str, fuzzy: bool) -> ColumnElement[bool]:
    if attribute.keyword in STUDY_KEYWORDS:
        document = Study.attributes
    elif attribute.keyword in SERIES_KEYWORDS:
        document = Series.attributes
    else:
        document = Instance.attributes
    path = (attribute.hex, "Value", 0)
    if attribute.vr in _NUMERIC_VRS:
        number = _number(value, attribute)
        equal: ColumnElement[bool] = document[path].as_float() == number
        return equal
    if attribute.vr == "PN":
        groups = ("Alphabetic", "Ideographic", "Phonetic")
        return or_(*(_value_condition(document[(*path, g)].as_string(), attribute, value, fuzzy) for g in groups))
    return _value_condition(document[path].as_string(), attribute, value, fuzzy)


def _integer_condition(column: Any, attribute: Attribute, value: str) -> ColumnElement[bool]:
    number = _number(value, attribute)
    if number != int(number):
        return false()
    return column == int(number)  # type: ignore[no-any-return]


def _number(value: str, attribute: Attribute) -> float:
    try:
        return float(value)
    except ValueError:
        raise BadRequest(
            "the matching value is not a number", code="invalid-matching-value", detail={"key": attribute.keyword}
        ) from None


def _value_condition(expr: Any, attribute: Attribute, value: str, fuzzy: bool) -> ColumnElement[bool]:
    vr = attribute.vr
    if vr == "UI":
        uids = [u.strip() for u in re.split(r"[,\\]", value) if u.strip()]
        if not uids or not all(len(u) <= 64 and _UID.fullmatch(u) for u in uids):
            raise BadRequest(
                "UID matching takes a UID or a list of UIDs (no wildcards)",
                code="invalid-matching-value",
                detail={"key": attribute.keyword},
            )
        return expr.in_(uids)  # type: ignore[no-any-return]
    if vr in ("DA", "TM"):
        return _range_condition(expr, attribute, value)
    if vr == "CS":
        codes = [c.strip() for c in re.split(r"[,\\]", value) if c.strip()]
        return or_(*(_text_condition(expr, code, case_insensitive=False) for code in codes))
    if vr == "PN":
        if fuzzy:
            # A prefix of any component: "^" + name contains "^" + value (components split on ^ and spaces).
            components = func.replace(func.lower(expr), " ", "^")
            pattern = "%^" + _like_pattern(value.lower()) + "%"
            return (literal("^") + components).like(pattern, escape=_ESCAPE)
        return _text_condition(expr, value, case_insensitive=True)
    if fuzzy and vr in _FUZZY_TEXT_VRS:
        return func.lower(expr).like("%" + _like_pattern(value.lower()) + "%", escape=_ESCAPE)
    return _text_condition(expr, value, case_insensitive=False)


def _text_condition(expr: Any, value: str, *, case_insensitive: bool) -> ColumnElement[bool]:
    if value == "*":
        return true()
    if "*" in value or "?" in value:
        return func.lower(expr).like(_like_pattern(value.lower()), escape=_ESCAPE)
    if case_insensitive:
        return func.lower(expr) == value.lower()
    return expr == value  # type: ignore[no-any-return]


def _like_pattern(value: str) -> str:
    escaped = value.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")
    return escaped.replace("*", "%").replace("?", "_")


def _range_condition(expr: Any, attribute: Attribute, value: str) -> ColumnElement[bool]:
    pattern = _DATE if attribute.vr == "DA" else _TIME
    low, dash, high = value.partition("-")
    bounds = [b for b in (low, high) if b]
    if not bounds or not all(pattern.fullmatch(b) for b in bounds):
        raise BadRequest(
            "date matching takes YYYYMMDD or a range YYYYMMDD-YYYYMMDD (either end may be open)"
            if attribute.vr == "DA"
            else "time matching takes HHMMSS[.FFFFFF] or a range of them",
            code="invalid-matching-value",
            detail={"key": attribute.keyword},
        )
    if not dash:
        return expr == low  # type: ignore[no-any-return]
    conditions = [expr != ""]
    if low:
        conditions.append(expr >= low)
    if high:
        conditions.append(expr <= (high if attribute.vr == "DA" else _end_of_time(high)))
    return and_(*conditions)


def _end_of_time(value: str) -> str:
    """The last instant a partial time names: ``1030`` → ``103059.999999`` (so ``-1030`` includes 10:30:59)."""
    whole, _, fraction = value.partition(".")
    return (whole + "5959"[len(whole) - 2 :]) + "." + fraction.ljust(6, "9")
