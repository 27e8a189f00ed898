"""An independent JWS (compact) builder for attack tests, written with ``cryptography`` only (no jose).

It lets tests sign arbitrary headers and claims with a real key, so a rejection proves the verifier checked the
claim, not that the token happened to be unsigned. ``test_forged_token_with_honest_claims_verifies`` keeps it
honest: with correct claims its output must verify.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from auth.tokens import SigningKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_json(value: object) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def signing_input(header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    return f"{b64url_json(dict(header))}.{b64url_json(dict(claims))}"


def sign(key: SigningKey, data: bytes) -> bytes:
    private = serialization.load_pem_private_key(key.to_pem(), password=None)
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    r, s = decode_dss_signature(private.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def forge(key: SigningKey, header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    """A token with exactly ``header`` and ``claims``, correctly signed by ``key``."""
    data = signing_input(header, claims)
    return f"{data}.{b64url(sign(key, data.encode('ascii')))}"


def hs256_with_public_pem(key: SigningKey, header: Mapping[str, object], claims: Mapping[str, object]) -> str:
    """The algorithm-confusion attack: an HMAC 'signature' keyed with the victim's public key PEM."""
    private = serialization.load_pem_private_key(key.to_pem(), password=None)
    public_pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    data = signing_input(header, claims)
    mac = hmac.new(public_pem, data.encode("ascii"), hashlib.sha256).digest()
    return f"{data}.{b64url(mac)}"


def split(token: str) -> tuple[dict[str, object], dict[str, object], str]:
    """Header, claims and the raw signature segment of a compact token."""
    header, claims, signature = token.split(".")
    return _decode(header), _decode(claims), signature


def _decode(segment: str) -> dict[str, object]:
    value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    assert isinstance(value, dict)
    return value
