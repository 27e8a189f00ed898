"""Times as the portals' readers read them: China Standard Time to the minute, from the API's UTC ISO 8601 stamps.

The API speaks UTC; a doctor checking how long a session lasts or a clerk telling a patient until when a printed
code works needs the wall-clock time of the hospital, which in this service is Beijing time.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")


def local_time(value: str | None) -> str:
    """``2026-11-23T14:28:46Z`` → ``2026-11-23 22:28``; anything that is not a timestamp is shown as it is."""
    if not value:
        return ""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
