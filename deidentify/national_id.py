"""Chinese resident identity card numbers (GB 11643): 17 digits and an ISO 7064 MOD 11-2 check character."""

from __future__ import annotations

_WEIGHTS = tuple(pow(2, 17 - i, 11) for i in range(17))
_CHECK = "10X98765432"


def check_character(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character ('0'-'9' or 'X') for 17 digits."""
    if len(first17) != 17 or not first17.isascii() or not first17.isdigit():
        raise ValueError("expected 17 ASCII digits")
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def is_valid_national_id(value: str) -> bool:
    """True for 18 characters whose last one is the right check character (upper- or lower-case x)."""
    if len(value) != 18 or not value[:17].isascii() or not value[:17].isdigit():
        return False
    return check_character(value[:17]) == value[17].upper()
