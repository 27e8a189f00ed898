"""Custom profiles from a small TOML file, validated with clear errors.

::

    name = "teaching"
    description = "Teaching file: research plus kept institution"
    options = ["clean_descriptors", "clean_structured_content", "clean_graphics", "clean_pixel_data",
               "retain_longitudinal_modified_dates", "retain_institution_identity"]

    [overrides]              # tag or keyword = single action code (D, Z, X, K, C, U)
    "(0008,1030)" = "X"
    InstitutionName = "K"

    [clean_pixel_data]       # optional tuning; needs "clean_pixel_data" in options
    extra_modalities = ["MG"]
    max_ocr_frames = 5
    margin = 3
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from deidentify.pixel_risk import CLEAN_PIXEL_DATA, PixelPolicy
from deidentify.profiles import Profile
from deidentify.table import ActionCode, Option, parse_tag

_KEYS = frozenset({"name", "description", "options", "overrides", CLEAN_PIXEL_DATA})
_PIXEL_KEYS = frozenset({"extra_modalities", "max_ocr_frames", "margin"})


class ProfileError(ValueError):
    """A custom profile file is invalid; the message says where."""


def profile_from_mapping(document: Mapping[str, object]) -> Profile:
    """Build a :class:`Profile` from parsed TOML (or any mapping of the same shape)."""
    unknown = set(document) - _KEYS
    if unknown:
        raise ProfileError(f"unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise ProfileError("'name' must be a non-empty string")
    description = document.get("description", "")
    if not isinstance(description, str):
        raise ProfileError("'description' must be a string")
    raw_options = document.get("options", [])
    if not isinstance(raw_options, list) or not all(isinstance(o, str) for o in raw_options):
        raise ProfileError("'options' must be a list of option names")
    valid = {option.value for option in Option} | {CLEAN_PIXEL_DATA}
    bad = [option for option in raw_options if option not in valid]
    if bad:
        raise ProfileError(f"unknown options {bad}; allowed: {sorted(valid)}")
    pixels = _pixel_policy(document.get(CLEAN_PIXEL_DATA), CLEAN_PIXEL_DATA in raw_options)
    raw_overrides = document.get("overrides", {})
    if not isinstance(raw_overrides, dict):
        raise ProfileError("'overrides' must be a table of tag = action")
    overrides: dict[int, ActionCode] = {}
    codes = {code.value for code in ActionCode}
    for key, action in raw_overrides.items():
        try:
            tag = parse_tag(str(key))
        except ValueError as exc:
            raise ProfileError(f"overrides: {exc}") from None
        if not isinstance(action, str) or action not in codes:
            raise ProfileError(f"overrides: {key!r} must map to one of {sorted(codes)}")
        overrides[tag] = ActionCode(action)
    try:
        return Profile(
            name=name,
            options=frozenset(Option(option) for option in raw_options if option != CLEAN_PIXEL_DATA),
            overrides=overrides,
            description=description,
            clean_pixel_data=pixels,
        )
    except ValueError as exc:
        raise ProfileError(str(exc)) from None


def _pixel_policy(table: object, enabled: bool) -> PixelPolicy | None:
    """The Clean Pixel Data policy from the option and its optional ``[clean_pixel_data]`` table."""
    if table is None:
        return PixelPolicy() if enabled else None
    if not enabled:
        raise ProfileError(f"[{CLEAN_PIXEL_DATA}] needs {CLEAN_PIXEL_DATA!r} in options")
    if not isinstance(table, dict):
        raise ProfileError(f"'{CLEAN_PIXEL_DATA}' must be a table")
    unknown = set(table) - _PIXEL_KEYS
    if unknown:
        raise ProfileError(f"[{CLEAN_PIXEL_DATA}]: unknown keys {sorted(unknown)}; allowed: {sorted(_PIXEL_KEYS)}")
    modalities = table.get("extra_modalities", [])
    if not isinstance(modalities, list) or not all(isinstance(m, str) for m in modalities):
        raise ProfileError(f"[{CLEAN_PIXEL_DATA}]: 'extra_modalities' must be a list of Modality codes")
    numbers = {key: table[key] for key in ("max_ocr_frames", "margin") if key in table}
    for key, value in numbers.items():
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProfileError(f"[{CLEAN_PIXEL_DATA}]: '{key}' must be an integer")
    try:
        return PixelPolicy(extra_modalities=frozenset(modalities), **numbers)
    except ValueError as exc:
        raise ProfileError(f"[{CLEAN_PIXEL_DATA}]: {exc}") from None


def load_profile(path: Path) -> Profile:
    """Read and validate a TOML profile file."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ProfileError(f"cannot read {path.name}: {type(exc).__name__}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path.name}: {exc}") from None
    return profile_from_mapping(document)
