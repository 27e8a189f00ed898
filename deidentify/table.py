"""PS3.15 Table E.1-1 as loaded from the generated package data, matched by tag number.

Rows are keyed by tag number, never by pydicom keyword: 26 rows name attributes that pydicom's dictionary does
not know yet. Four rows are patterns: curves ``(50xx,xxxx)``, overlay data ``(60xx,3000)``, overlay comments
``(60xx,4000)`` and private attributes (odd groups); :func:`row_for_tag` resolves those too.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType

from pydicom.datadict import tag_for_keyword


class ActionCode(enum.StrEnum):
    """The single action codes of PS3.15 Table E.1-1a."""

    DUMMY = "D"
    ZERO = "Z"
    REMOVE = "X"
    KEEP = "K"
    CLEAN = "C"
    UID = "U"


class Option(enum.StrEnum):
    """The option columns of Table E.1-1, named as in the reference data."""

    RETAIN_SAFE_PRIVATE = "retain_safe_private"
    RETAIN_UIDS = "retain_uids"
    RETAIN_DEVICE_IDENTITY = "retain_device_identity"
    RETAIN_INSTITUTION_IDENTITY = "retain_institution_identity"
    RETAIN_PATIENT_CHARACTERISTICS = "retain_patient_characteristics"
    RETAIN_LONGITUDINAL_FULL_DATES = "retain_longitudinal_full_dates"
    RETAIN_LONGITUDINAL_MODIFIED_DATES = "retain_longitudinal_modified_dates"
    CLEAN_DESCRIPTORS = "clean_descriptors"
    CLEAN_STRUCTURED_CONTENT = "clean_structured_content"
    CLEAN_GRAPHICS = "clean_graphics"


CURVE_PATTERN = "(50xx,xxxx)"
OVERLAY_DATA_PATTERN = "(60xx,3000)"
OVERLAY_COMMENTS_PATTERN = "(60xx,4000)"
PRIVATE_PATTERN = "(gggg,eeee) where gggg is odd"


@dataclass(frozen=True)
class AnnexERow:
    """One row of Table E.1-1: the Basic Profile code and, per option, the code that replaces it (or none)."""

    tag: str
    name: str
    keyword: str | None
    vr: str | None
    retired: bool
    in_std_comp_iod: bool
    basic_profile_action: str
    options: Mapping[Option, str]

    @property
    def tag_number(self) -> int | None:
        """The tag as an int, or None for the pattern rows."""
        text = self.tag
        if len(text) != 11 or "x" in text or "g" in text:
            return None
        return int(text[1:5] + text[6:10], 16)


@dataclass(frozen=True)
class AnnexETable:
    """The whole table plus its provenance header."""

    provenance: Mapping[str, object]
    rows: tuple[AnnexERow, ...]
    by_tag: Mapping[int, AnnexERow]
    patterns: Mapping[str, AnnexERow]

    @property
    def edition(self) -> str:
        return str(self.provenance["edition"])


def _row(raw: Mapping[str, object]) -> AnnexERow:
    options_raw = raw["options"]
    assert isinstance(options_raw, dict)
    options = {Option(key): str(value) for key, value in options_raw.items() if value is not None}
    keyword = raw["keyword"]
    vr = raw["vr"]
    return AnnexERow(
        tag=str(raw["tag"]),
        name=str(raw["name"]),
        keyword=None if keyword is None else str(keyword),
        vr=None if vr is None else str(vr),
        retired=bool(raw["retired"]),
        in_std_comp_iod=bool(raw["in_std_comp_iod"]),
        basic_profile_action=str(raw["basic_profile_action"]),
        options=MappingProxyType(options),
    )


@cache
def load_table() -> AnnexETable:
    """Load the generated table shipped in ``deidentify/_standard`` (once per process)."""
    text = resources.files("deidentify._standard").joinpath("annex_e_table.json").read_text(encoding="utf-8")
    document = json.loads(text)
    rows = tuple(_row(raw) for raw in document["rows"])
    by_tag: dict[int, AnnexERow] = {}
    patterns: dict[str, AnnexERow] = {}
    for row in rows:
        number = row.tag_number
        if number is None:
            patterns[row.tag] = row
        else:
            by_tag[number] = row
    expected = {CURVE_PATTERN, OVERLAY_DATA_PATTERN, OVERLAY_COMMENTS_PATTERN, PRIVATE_PATTERN}
    if set(patterns) != expected:
        raise RuntimeError(f"Annex E table: unexpected pattern rows {sorted(patterns)}")
    return AnnexETable(
        provenance=MappingProxyType(dict(document["provenance"])),
        rows=rows,
        by_tag=MappingProxyType(by_tag),
        patterns=MappingProxyType(patterns),
    )


def is_curve_group(group: int) -> bool:
    """Curve groups are the even groups 5000-501E (retired repeating group)."""
    return 0x5000 <= group <= 0x501E and group % 2 == 0


def is_overlay_group(group: int) -> bool:
    """Overlay groups are the even groups 6000-601E (repeating group)."""
    return 0x6000 <= group <= 0x601E and group % 2 == 0


def row_for_tag(tag: int) -> AnnexERow | None:
    """The row that governs ``tag``, including the pattern rows; None when the table does not list it.

    Elements of an overlay group other than Overlay Data and Overlay Comments are not listed in the table;
    they are governed by the Overlay Data row here because an overlay plane without its data is meaningless
    (the de-identifier treats the group as one unit).
    """
    table = load_table()
    row = table.by_tag.get(tag)
    if row is not None:
        return row
    group = tag >> 16
    if group % 2 == 1:
        return table.patterns[PRIVATE_PATTERN]
    if is_curve_group(group):
        return table.patterns[CURVE_PATTERN]
    if is_overlay_group(group):
        if tag & 0xFFFF == 0x4000:
            return table.patterns[OVERLAY_COMMENTS_PATTERN]
        return table.patterns[OVERLAY_DATA_PATTERN]
    return None


def parse_tag(text: str) -> int:
    """Parse ``(0010,0010)``, ``0010,0010``, ``00100010`` or a pydicom keyword into a tag number."""
    cleaned = text.strip().strip("()").replace(",", "").replace(" ", "")
    if len(cleaned) == 8 and cleaned[:2] in ("50", "60"):
        cleaned = cleaned.replace("x", "0").replace("X", "0")  # repeating groups: (60xx,3000) → (6000,3000)
    if len(cleaned) == 8:
        try:
            return int(cleaned, 16)
        except ValueError:
            pass
    number = tag_for_keyword(text.strip())
    if number is None:
        raise ValueError(f"not a tag or a known keyword: {text!r}")
    return int(number)


def format_tag(tag: int) -> str:
    """``(GGGG,EEEE)`` upper-case hex, as the standard writes tags."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
