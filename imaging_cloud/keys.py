"""The service's secrets as one object: keyed lookup hashes, at-rest encryption, de-identification keys."""

from __future__ import annotations

import hashlib
import hmac
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from imaging_cloud.settings import Settings

_NONCE_BYTES = 12


@dataclass(frozen=True)
class KeyRing:
    pseudonym_key: bytes
    uid_key: bytes
    index_key: bytes
    encryption_key: bytes
    """32 bytes for AES-256-GCM, derived with HKDF from the configured secret."""

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        raw = settings.encryption_key.get_secret_value().encode()
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"imaging-cloud at-rest v1").derive(raw)
        return cls(
            pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
            uid_key=settings.uid_key.get_secret_value().encode(),
            index_key=settings.index_key.get_secret_value().encode(),
            encryption_key=derived,
        )

    def lookup_hash(self, kind: str, value: str) -> str:
        """Keyed hash used to find a row by an identifier without storing the identifier."""
        message = kind.encode() + b"\x00" + value.strip().upper().encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()

    def encrypt(self, plaintext: str) -> bytes:
        nonce = os.urandom(_NONCE_BYTES)
        return nonce + AESGCM(self.encryption_key).encrypt(nonce, plaintext.encode(), None)

    def decrypt(self, ciphertext: bytes) -> str:
        nonce, body = ciphertext[:_NONCE_BYTES], ciphertext[_NONCE_BYTES:]
        return AESGCM(self.encryption_key).decrypt(nonce, body, None).decode()
