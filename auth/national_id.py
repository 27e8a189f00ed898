"""The 18-character resident identity number (居民身份证号码, GB 11643-1999).

Layout: 6-digit administrative area code, 8-digit birth date ``YYYYMMDD``, 3-digit sequence (odd for men),
and a check character computed with ISO 7064 MOD 11-2 over the first 17 digits (``X`` stands for 10).

Validation is strict on the *canonical* form, because the canonical string is what gets hashed into the person
index: ``11010519491231002x`` and ``11010519491231002X`` must never become two people. Normalize first, then
validate (or call ``parse_national_id``, which does both). Area codes are not checked against the official
list, which changes over time. Messages never contain the number itself.
"""

from __future__ import annotations

import datetime as dt

WEIGHTS: tuple[int, ...] = tuple(pow(2, 17 - i, 11) for i in range(17))
"""ISO 7064 MOD 11-2 weights 2^(17-i) mod 11: 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2."""

CHECK_CHARACTERS = "10X98765432"
"""Check character indexed by (weighted sum mod 11)."""

EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
"""Birth dates before this are treated as typing errors."""

_FULL_WIDTH = str.maketrans({**{chr(0xFF10 + d): str(d) for d in range(10)}, "Ｘ": "X", "ｘ": "X"})


class InvalidNationalId(ValueError):
    """The value is not a valid national ID (deliberately without saying which value)."""


def normalize_national_id(value: str) -> str:
    """Canonical form of what a person typed: surrounding whitespace removed, full-width digits and ``Ｘ``
    made ASCII, ``x`` upper-cased. Does not validate."""
    return value.strip().translate(_FULL_WIDTH).upper()


def check_digit(first17: str) -> str:
    """The MOD 11-2 check character for the first 17 digits."""
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise InvalidNationalId("the first 17 characters of a national ID must be digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, WEIGHTS, strict=True))
    return CHECK_CHARACTERS[total % 11]


def _birth_date_or_none(value: str, today: dt.date) -> dt.date | None:
    try:
        born = dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None
    return born if EARLIEST_BIRTH_DATE <= born <= today else None


def is_valid_national_id(value: str, *, today: dt.date | None = None) -> bool:
    """True for a canonical 18-character ID with a correct check character and a plausible birth date
    (a real calendar date from 1900-01-01 up to ``today``, default: the local date)."""
    if len(value) != 18 or not value.isascii():
        return False
    first17, check = value[:17], value[17]
    if not first17.isdigit() or first17[0] == "0":
        return False
    if check != check_digit(first17):
        return False
    return _birth_date_or_none(value, today or dt.date.today()) is not None


def parse_national_id(value: str, *, today: dt.date | None = None) -> str:
    """The canonical form of ``value``, or ``InvalidNationalId``."""
    canonical = normalize_national_id(value)
    if not is_valid_national_id(canonical, today=today):
        raise InvalidNationalId("not a valid national ID")
    return canonical


def birth_date(value: str) -> dt.date:
    """The birth date encoded in a valid canonical ID."""
    if not is_valid_national_id(value):
        raise InvalidNationalId("not a valid national ID")
    return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))


def age_on(value: str, day: dt.date) -> int:
    """Completed years of age on ``day`` (e.g. to tell whether a registrant is a minor needing a guardian)."""
    born = birth_date(value)
    if day < born:
        raise ValueError("day is before the birth date")
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))
