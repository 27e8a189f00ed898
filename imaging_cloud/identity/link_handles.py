"""The blinded name of a hospital's local patient id, so a locally de-identifying uploader never sends the id.

A hospital registers ``(issuer, local id) → person`` once through the cross-reference feed (the one channel that
carries identifiers). To ask for a link token later, its uploader names the cross-reference by
``HMAC(link key, issuer ‖ local id)``: the link key is derived by the cloud per institution and handed only to
that institution, so the handle means nothing to anyone else, and the cloud finds the cross-reference by the
handle it stored at registration. Pure: hashing only, shared by the service and the uploader.
"""

from __future__ import annotations

import hashlib
import hmac

LINK_HANDLE_LABEL = b"imaging-cloud/link-handle/v1\x00"
LINK_KEY_BYTES = 32


def link_handle(link_key: bytes, issuer: str, patient_id: str) -> str:
    """64 hex characters naming one cross-reference; the local id is normalised as the service looks it up."""
    if len(link_key) < 16:
        raise ValueError("link key must be at least 16 bytes")
    message = issuer.strip().encode() + b"\x00" + patient_id.strip().upper().encode()
    return hmac.new(link_key, LINK_HANDLE_LABEL + message, hashlib.sha256).hexdigest()
