"""Named de-identification profiles: the Basic Profile plus a set of options and per-tag overrides.

A profile resolves every row of Table E.1-1 to one single action once, when it is built, so applying it is a
dictionary look-up per element.

Compound codes (``X/Z``, ``X/D``, ``X/Z/D``, ``Z/D``, ``X/Z/U*``) are resolved by the Type of the attribute in
the IOD being de-identified. This package ships no PS3.3 IOD Type tables yet, so it resolves them to the action
that conforms for *any* Type: ``X/Z`` → Z (empty), ``X/D``, ``X/Z/D`` and ``Z/D`` → D (dummy), ``X/Z/U*`` →
U (kept, contained UIDs remapped, contents processed). An emptied or dummy value carries nothing identifying;
only the presence of the attribute remains.

When several options in force change the same row, the more protective code wins (C over K).

The Clean Pixel Data Option has no column in the table: ``clean_pixel_data`` holds its policy (None: off;
objects with ``BurnedInAnnotation`` YES are then refused), see :mod:`deidentify.pixel_risk`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from deidentify.pixel_risk import PixelPolicy
from deidentify.table import (
    CURVE_PATTERN,
    OVERLAY_COMMENTS_PATTERN,
    OVERLAY_DATA_PATTERN,
    PRIVATE_PATTERN,
    ActionCode,
    AnnexERow,
    Option,
    is_curve_group,
    is_overlay_group,
    load_table,
)

COMPOUND_RESOLUTION: Mapping[str, ActionCode] = MappingProxyType(
    {
        "X/Z": ActionCode.ZERO,
        "X/D": ActionCode.DUMMY,
        "X/Z/D": ActionCode.DUMMY,
        "Z/D": ActionCode.DUMMY,
        "X/Z/U*": ActionCode.UID,
    }
)


def resolve_code(code: str) -> ActionCode:
    """One action for a table code; compound codes as documented in this module."""
    if code in COMPOUND_RESOLUTION:
        return COMPOUND_RESOLUTION[code]
    return ActionCode(code)


@dataclass(frozen=True)
class Rule:
    """What a profile does to one attribute, and why (``reason`` names the deciding column)."""

    action: ActionCode
    table_code: str
    reason: str


def rule_for_row(row: AnnexERow, options: Iterable[Option]) -> Rule:
    """Resolve one table row under a set of options (no overrides)."""
    chosen: tuple[Option, str] | None = None
    for option in sorted(set(options), key=list(Option).index):
        code = row.options.get(option)
        if code is None:
            continue
        if chosen is None or (code == ActionCode.CLEAN and chosen[1] != ActionCode.CLEAN):
            chosen = (option, code)
    if chosen is None:
        return Rule(resolve_code(row.basic_profile_action), row.basic_profile_action, "basic-profile")
    return Rule(resolve_code(chosen[1]), chosen[1], f"option:{chosen[0].value}")


@dataclass(frozen=True)
class Profile:
    """A named set of options over the Basic Profile, with optional per-tag overrides (tag number → action).

    ``clean_pixel_data`` turns the Clean Pixel Data Option on with its policy (None: off).
    """

    name: str
    options: frozenset[Option] = frozenset()
    overrides: Mapping[int, ActionCode] = field(default_factory=dict)
    description: str = ""
    clean_pixel_data: PixelPolicy | None = None
    _rules: Mapping[int, Rule] = field(init=False, repr=False, compare=False)
    _patterns: Mapping[str, Rule] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name or not self.name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("profile name: letters, digits, '-' and '_' only")
        options = frozenset(Option(option) for option in self.options)
        if {Option.RETAIN_LONGITUDINAL_FULL_DATES, Option.RETAIN_LONGITUDINAL_MODIFIED_DATES} <= options:
            raise ValueError("retain full dates and retain modified dates are mutually exclusive options")
        if self.clean_pixel_data is not None and not isinstance(self.clean_pixel_data, PixelPolicy):
            raise TypeError("clean_pixel_data must be a PixelPolicy or None")
        overrides = {int(tag): ActionCode(action) for tag, action in self.overrides.items()}
        object.__setattr__(self, "options", options)
        object.__setattr__(self, "overrides", MappingProxyType(overrides))
        table = load_table()
        rules = {tag: rule_for_row(row, options) for tag, row in table.by_tag.items()}
        for tag, action in overrides.items():
            row = table.by_tag.get(tag)
            rules[tag] = Rule(action, row.basic_profile_action if row else "", "profile-override")
        patterns = {key: rule_for_row(row, options) for key, row in table.patterns.items()}
        object.__setattr__(self, "_rules", MappingProxyType(rules))
        object.__setattr__(self, "_patterns", MappingProxyType(patterns))

    def __reduce__(
        self,
    ) -> tuple[type[Profile], tuple[str, frozenset[Option], dict[int, ActionCode], str, PixelPolicy | None]]:
        """Pickle by definition (the resolved rules are rebuilt), e.g. for process pools."""
        return (Profile, (self.name, self.options, dict(self.overrides), self.description, self.clean_pixel_data))

    def __hash__(self) -> int:
        return hash((self.name, self.options, tuple(sorted(self.overrides.items())), self.clean_pixel_data))

    def rule_for(self, tag: int) -> Rule | None:
        """The rule for an element tag, or None when neither the table nor an override lists it."""
        rule = self._rules.get(tag)
        if rule is not None:
            return rule
        group = tag >> 16
        if group % 2 == 1:
            return self._patterns[PRIVATE_PATTERN]
        if is_curve_group(group):
            return self._patterns[CURVE_PATTERN]
        if is_overlay_group(group):
            if tag & 0xFFFF == 0x4000:
                return self._patterns[OVERLAY_COMMENTS_PATTERN]
            return self._patterns[OVERLAY_DATA_PATTERN]
        return None

    @property
    def pattern_rules(self) -> Mapping[str, Rule]:
        """Rules of the four pattern rows (curves, overlay data, overlay comments, private attributes)."""
        return self._patterns


CLINICAL_SHARING = Profile(
    name="clinical-sharing",
    options=frozenset(
        {
            Option.RETAIN_LONGITUDINAL_FULL_DATES,
            Option.RETAIN_PATIENT_CHARACTERISTICS,
            Option.CLEAN_DESCRIPTORS,
            Option.CLEAN_STRUCTURED_CONTENT,
            Option.CLEAN_GRAPHICS,
        }
    ),
    description=(
        "Default for the cloud: Basic Profile + Retain Longitudinal Full Dates + Retain Patient Characteristics"
        " + Clean Descriptors + Clean Structured Content + Clean Graphics + Clean Pixel Data (burned-in text"
        " found by OCR in US, SC, XA/RF, CR/DX, endoscopy/photo and flagged images is blacked out); the patient"
        " becomes a keyed pseudonym."
    ),
    clean_pixel_data=PixelPolicy(),
)

RESEARCH = Profile(
    name="research",
    options=frozenset(
        {
            Option.RETAIN_LONGITUDINAL_MODIFIED_DATES,
            Option.CLEAN_DESCRIPTORS,
            Option.CLEAN_STRUCTURED_CONTENT,
            Option.CLEAN_GRAPHICS,
        }
    ),
    description=(
        "Cohort export: Basic Profile + Clean Descriptors + Clean Structured Content + Clean Graphics + Clean"
        " Pixel Data + Retain Longitudinal Modified Dates (a keyed per-person date shift that preserves"
        " intervals); no private tags. Needs Keys.date_shift_key and Subject.person_ref."
    ),
    clean_pixel_data=PixelPolicy(),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (CLINICAL_SHARING, RESEARCH)}


def get_profile(name: str) -> Profile:
    """The built-in profile called ``name``; KeyError lists the known names."""
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") from None
