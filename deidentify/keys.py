"""De-identification keys and the keyed pseudonym of a person.

Everything derived from an identifier is keyed (HMAC-SHA256): without the key a pseudonym or a remapped UID
cannot be recomputed from a guessed identifier. Each use has its own label, so one key never yields the same
output for two purposes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

PSEUDONYM_LABEL = b"deidentify/pseudonym/v1\x00"


@dataclass(frozen=True)
class Keys:
    """Keys for one de-identification domain; bytes, never logged."""

    uid_key: bytes
    date_shift_key: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.uid_key, bytes) or not self.uid_key:
            raise ValueError("uid_key must be non-empty bytes")
        if self.date_shift_key is not None and (not isinstance(self.date_shift_key, bytes) or not self.date_shift_key):
            raise ValueError("date_shift_key must be non-empty bytes or None")

    def __repr__(self) -> str:
        return "Keys(<redacted>)"


def keyed_digest(key: bytes, label: bytes, message: str) -> bytes:
    """HMAC-SHA256 of ``label || message`` (UTF-8) under ``key``."""
    return hmac.new(key, label + message.encode("utf-8"), hashlib.sha256).digest()


def make_pseudonym(person_ref: str, pseudonym_key: bytes) -> str:
    """A stable pseudonym for a person: 32 characters of base32 (A-Z, 2-7) from a keyed HMAC.

    Valid as a DICOM LO value (at most 64 characters, no backslash or control characters); it has no digit
    ``0``/``1`` runs that could be mistaken for a phone or national ID number.
    """
    if not person_ref:
        raise ValueError("person_ref must not be empty")
    if not pseudonym_key:
        raise ValueError("pseudonym_key must not be empty")
    digest = keyed_digest(pseudonym_key, PSEUDONYM_LABEL, person_ref)
    return base64.b32encode(digest[:20]).decode("ascii")
