"""Generic patterns of personal data in Chinese clinical text, found without knowing the person.

18-digit resident ID numbers (only with a valid ISO 7064 MOD 11-2 check character), mainland mobile numbers
(``1[3-9]`` + 9 digits, optionally ``+86``), landlines with an area code, and e-mail addresses. Matching runs
on text whose full-width ASCII was folded to ASCII (:func:`fold_width`), so ``１３８…`` is found too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from deidentify.national_id import is_valid_national_id

KNOWN_IDENTIFIER = "known-identifier"
NATIONAL_ID = "national-id-pattern"
PHONE = "phone-pattern"
EMAIL = "email"

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}
_FULL_WIDTH[0x3000] = 0x20


def fold_width(text: str) -> str:
    """Map full-width ASCII (U+FF01-U+FF5E) and the ideographic space to ASCII; the length is unchanged."""
    return text if text.isascii() else text.translate(_FULL_WIDTH)


_NATIONAL_ID_RE = re.compile(
    r"(?<![0-9])([1-9][0-9]{5})[ \-]?((?:18|19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01]))"
    r"[ \-]?([0-9]{3}[0-9Xx])(?![0-9A-Za-z])"
)
_MOBILE_RE = re.compile(r"(?<![0-9])(?:(?:\+|00)?86[ \-]?)?1[3-9][0-9][ \-]?[0-9]{4}[ \-]?[0-9]{4}(?![0-9])")
_LANDLINE_RE = re.compile(
    r"(?<![0-9])(?:(?:\+|00)?86[ \-]?)?(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2})[ \-]?[2-9][0-9]{6,7}(?![0-9])"
)
_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")


_DIGITS3 = re.compile(r"[0-9]{3}")


def find_generic(folded: str) -> Iterator[tuple[int, int, str]]:
    """Spans ``(start, end, kind)`` of generic patterns in already width-folded text."""
    if "@" in folded:
        for match in _EMAIL_RE.finditer(folded):
            yield match.start(), match.end(), EMAIL
    if _DIGITS3.search(folded) is None:  # every ID or phone pattern holds a run of three digits
        return
    for match in _NATIONAL_ID_RE.finditer(folded):
        if is_valid_national_id("".join(match.groups())):
            yield match.start(), match.end(), NATIONAL_ID
    for regex in (_MOBILE_RE, _LANDLINE_RE):
        for match in regex.finditer(folded):
            yield match.start(), match.end(), PHONE
