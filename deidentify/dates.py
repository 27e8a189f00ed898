"""The research profile's keyed per-person date shift (Retain Longitudinal Temporal Information, Modified Dates).

Every date of one person moves back by the same number of days (1-3650), derived from a keyed HMAC of the
person reference: intervals between a person's studies and ages at examination are preserved, the real dates
are not recoverable without the key. Times of day are kept (the shift is a whole number of days).
"""

from __future__ import annotations

import datetime as dt

from deidentify.keys import keyed_digest

DATE_SHIFT_LABEL = b"deidentify/date-shift/v1\x00"
MAX_SHIFT_DAYS = 3650


class DateShifter:
    """Shifts DA and DT values of one person; ``None`` means the value could not be parsed."""

    def __init__(self, date_shift_key: bytes, person_ref: str) -> None:
        if not date_shift_key or not person_ref:
            raise ValueError("a date shift needs a key and a person reference")
        digest = keyed_digest(date_shift_key, DATE_SHIFT_LABEL, person_ref)
        self.days = int.from_bytes(digest[:8], "big") % MAX_SHIFT_DAYS + 1

    def _shift(self, yyyymmdd: str) -> str | None:
        try:
            day = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
        except ValueError:
            return None
        try:
            return (day - dt.timedelta(days=self.days)).strftime("%Y%m%d")
        except OverflowError:
            return None

    def shift_da(self, value: str) -> str | None:
        """Shift ``YYYYMMDD`` (or the old ``YYYY.MM.DD``); empty stays empty."""
        text = value.strip()
        if not text:
            return ""
        if len(text) == 10 and text[4] == "." and text[7] == ".":
            text = text.replace(".", "")
        if len(text) != 8 or not text.isdigit():
            return None
        return self._shift(text)

    def shift_dt(self, value: str) -> str | None:
        """Shift the date part of ``YYYYMMDDHHMMSS.FFFFFF&ZZXX``; year- or month-only precision is refused."""
        text = value.strip()
        if not text:
            return ""
        if len(text) < 8 or not text[:8].isdigit():
            return None
        shifted = self._shift(text[:8])
        return None if shifted is None else shifted + text[8:]
