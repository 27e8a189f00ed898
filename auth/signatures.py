"""Detached signatures over arbitrary bytes with the service's token signing key (e.g. audit checkpoints).

The encoding follows JWS (RFC 7518 §3.3/§3.4) so anyone holding the published JWKS can check a signature with
any JOSE toolkit: RS256 is RSASSA-PKCS1-v1_5 with SHA-256, ES256 is ECDSA P-256 with SHA-256 whose signature is
the fixed-width ``r ‖ s`` (64 bytes), not DER. Verification takes the public JWK only, never the private key.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from auth.tokens import SigningKey

_P256_COORDINATE_BYTES = 32


def _b64url_int(value: str) -> int:
    padded = value + "=" * (-len(value) % 4)
    return int.from_bytes(base64.urlsafe_b64decode(padded.encode("ascii")), "big")


def sign_bytes(key: SigningKey, data: bytes) -> bytes:
    """The signature of ``data`` under ``key`` (algorithm ``key.alg``), JWS-encoded."""
    private = key.private_key
    if isinstance(private, rsa.RSAPrivateKey):
        return private.sign(data, padding.PKCS1v15(), hashes.SHA256())
    der = private.sign(data, ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(_P256_COORDINATE_BYTES, "big")


def _public_key(public_jwk: Mapping[str, Any]) -> tuple[str, rsa.RSAPublicKey | ec.EllipticCurvePublicKey]:
    kty = public_jwk.get("kty")
    try:
        if kty == "RSA":
            numbers = rsa.RSAPublicNumbers(_b64url_int(public_jwk["e"]), _b64url_int(public_jwk["n"]))
            return "RS256", numbers.public_key()
        if kty == "EC" and public_jwk.get("crv") == "P-256":
            point = ec.EllipticCurvePublicNumbers(
                _b64url_int(public_jwk["x"]), _b64url_int(public_jwk["y"]), ec.SECP256R1()
            )
            return "ES256", point.public_key()
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError("unusable public JWK") from exc
    raise ValueError("only RSA and EC P-256 public keys verify signatures here")


def verify_bytes(public_jwk: Mapping[str, Any], data: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is a valid signature of ``data`` by the key ``public_jwk`` describes.

    A malformed signature is simply invalid; an unusable key (wrong type, missing members) is a ``ValueError``,
    because that is a configuration fault rather than evidence about the data.
    """
    alg, public = _public_key(public_jwk)
    declared = public_jwk.get("alg", alg)
    if declared != alg:
        raise ValueError("the JWK's alg does not match its key type")
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, data, padding.PKCS1v15(), hashes.SHA256())
            return True
        if len(signature) != 2 * _P256_COORDINATE_BYTES:
            return False
        r = int.from_bytes(signature[:_P256_COORDINATE_BYTES], "big")
        s = int.from_bytes(signature[_P256_COORDINATE_BYTES:], "big")
        public.verify(encode_dss_signature(r, s), data, ec.ECDSA(hashes.SHA256()))
        return True
    except InvalidSignature:
        return False
