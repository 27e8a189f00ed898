"""Detached signatures: verifiable from the public JWK alone, JWS-encoded, and refused when anything changes."""

from __future__ import annotations

import base64

import pytest
from jose import jws

from auth.signatures import sign_bytes, verify_bytes
from auth.tokens import SigningKey

KEYS = {"ES256": SigningKey.generate("ES256"), "RS256": SigningKey.generate("RS256")}


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_signature_verifies_with_the_public_jwk_only(alg: str) -> None:
    key = KEYS[alg]
    signature = sign_bytes(key, b"head 42 abc")
    assert verify_bytes(key.public_jwk(), b"head 42 abc", signature)


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_changed_data_or_signature_does_not_verify(alg: str) -> None:
    key = KEYS[alg]
    signature = sign_bytes(key, b"head 42 abc")
    assert not verify_bytes(key.public_jwk(), b"head 43 abc", signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    assert not verify_bytes(key.public_jwk(), b"head 42 abc", flipped)
    assert not verify_bytes(key.public_jwk(), b"head 42 abc", signature[:-1])


def test_another_keys_signature_does_not_verify() -> None:
    other = SigningKey.generate("ES256")
    assert not verify_bytes(KEYS["ES256"].public_jwk(), b"x", sign_bytes(other, b"x"))


@pytest.mark.parametrize("alg", sorted(KEYS))
def test_signature_is_a_jws_signature_other_toolkits_accept(alg: str) -> None:
    """The bytes are exactly what JWS puts in a compact token's third segment, so python-jose verifies them."""
    key = KEYS[alg]
    header = base64.urlsafe_b64encode(f'{{"alg":"{alg}"}}'.encode()).rstrip(b"=")
    payload = base64.urlsafe_b64encode(b"checkpoint").rstrip(b"=")
    signing_input = header + b"." + payload
    signature = base64.urlsafe_b64encode(sign_bytes(key, signing_input)).rstrip(b"=")
    token = (signing_input + b"." + signature).decode("ascii")
    assert jws.verify(token, key.public_jwk(), algorithms=[alg]) == b"checkpoint"


def test_unusable_public_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        verify_bytes({"kty": "oct", "k": "AAAA"}, b"x", b"y")
    with pytest.raises(ValueError):
        verify_bytes({"kty": "EC", "crv": "P-256"}, b"x", b"y")
    jwk = {**KEYS["ES256"].public_jwk(), "alg": "RS256"}
    with pytest.raises(ValueError):
        verify_bytes(jwk, b"x", b"y")
