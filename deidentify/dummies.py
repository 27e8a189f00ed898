"""Dummy values for action D: non-empty, valid for the VR, and carrying nothing about anyone."""

from __future__ import annotations

TEXT_DUMMY = "ANONYMIZED"
_DUMMIES: dict[str, object] = {
    "AE": TEXT_DUMMY,
    "AS": "000Y",
    "CS": TEXT_DUMMY,
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": TEXT_DUMMY,
    "LT": TEXT_DUMMY,
    "PN": TEXT_DUMMY,
    "SH": TEXT_DUMMY,
    "ST": TEXT_DUMMY,
    "UC": TEXT_DUMMY,
    "UT": TEXT_DUMMY,
    "UR": "urn:x-deidentified",
    "FL": 0.0,
    "FD": 0.0,
    "SS": 0,
    "US": 0,
    "SL": 0,
    "UL": 0,
    "SV": 0,
    "UV": 0,
    "AT": 0,
}
_BINARY_DUMMY = bytes(8)  # a multiple of every binary VR's unit size (OB 1, OW 2, OF/OL 4, OD/OV 8)


def dummy_value(vr: str) -> object:
    """A dummy for a non-sequence, non-UID VR (binary VRs get eight zero bytes)."""
    return _DUMMIES.get(vr, _BINARY_DUMMY)
