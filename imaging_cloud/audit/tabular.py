"""Events as CSV: one row per event, every stored column, details as compact JSON (spreadsheet-safe)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable

from imaging_cloud.audit.chain import HASHED_FIELDS, format_time
from imaging_cloud.audit.models import AccessEvent

COLUMNS = (*HASHED_FIELDS, "prev_hash", "hash")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True, ensure_ascii=False) if isinstance(value, dict) else str(value)
    # A cell starting like a formula is quoted with an apostrophe so a spreadsheet shows it instead of running it.
    return "'" + text if text.startswith(_FORMULA_START) else text


def audit_csv(events: Iterable[AccessEvent]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event in events:
        row = [format_time(event.occurred_at) if name == "occurred_at" else getattr(event, name) for name in COLUMNS]
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()
