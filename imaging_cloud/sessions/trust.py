"""The trusted EHC issuers: whose OpenID Connect ID tokens sign a patient in, each checked with its own JWKS.

Production trusts the one EHC platform configured in settings (``ehc_issuer`` with ``ehc_jwks_path``). The
development mode also trusts the development EHC issuer (``imaging_cloud.sessions.dev_ehc``), whose key is
generated under the data dir; production never builds that key, so the issuer cannot exist there.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path

from auth.tokens import MAX_TOKEN_LENGTH, Claims, InvalidToken, SigningKey, TokenVerifier, jwks
from imaging_cloud.settings import Settings

DEV_EHC_ISSUER = "urn:imaging-cloud:development-ehc"
"""The ``iss`` of the development EHC issuer's ID tokens (not a URL: it is never fetched)."""


def dev_ehc_key_path(settings: Settings) -> Path:
    return settings.data_dir / "keys" / "dev-ehc-signing.pem"


def _unverified_issuer(token: str) -> str | None:
    """The ``iss`` a token claims, read only to choose which verifier checks it (that one checks ``iss`` again)."""
    parts = token.split(".") if isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH else []
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    issuer = payload.get("iss") if isinstance(payload, dict) else None
    return issuer if isinstance(issuer, str) else None


class EhcTrust:
    """The EHC issuers this service accepts ID tokens from, by issuer."""

    def __init__(self, verifiers: Mapping[str, TokenVerifier]) -> None:
        self._verifiers = dict(verifiers)

    @classmethod
    def from_settings(cls, settings: Settings, dev_key: SigningKey | None) -> EhcTrust:
        """The configured EHC platform (if any) and, given its key, the development issuer."""
        verifiers: dict[str, TokenVerifier] = {}
        if settings.ehc_issuer:
            if settings.ehc_jwks_path is None:
                raise ValueError("IMAGING_CLOUD_EHC_ISSUER needs IMAGING_CLOUD_EHC_JWKS_PATH (the issuer's JWKS)")
            platform_jwks = json.loads(settings.ehc_jwks_path.read_text(encoding="utf-8"))
            verifiers[settings.ehc_issuer] = _id_token_verifier(platform_jwks, settings.ehc_issuer, settings)
        if dev_key is not None:
            verifiers[DEV_EHC_ISSUER] = _id_token_verifier(jwks([dev_key]), DEV_EHC_ISSUER, settings)
        return cls(verifiers)

    @property
    def issuers(self) -> frozenset[str]:
        return frozenset(self._verifiers)

    def verify(self, id_token: str, *, now: dt.datetime | None = None) -> Claims:
        """The ID token's claims if a trusted issuer signed it and it is valid now; ``InvalidToken`` otherwise."""
        issuer = _unverified_issuer(id_token)
        verifier = self._verifiers.get(issuer) if issuer is not None else None
        if verifier is None:
            raise InvalidToken("token-invalid", "untrusted-issuer")
        return verifier.verify(id_token, now=now)


def _id_token_verifier(public_jwks: Mapping[str, object], issuer: str, settings: Settings) -> TokenVerifier:
    # OpenID Connect ID tokens carry neither our ``role`` claim nor (necessarily) a ``jti``.
    return TokenVerifier(
        public_jwks, issuer=issuer, audience=settings.ehc_audience, require_role=False, require_jti=False
    )
