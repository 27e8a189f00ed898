"""Signing-key rotation with overlap: the current key signs, retired public keys still verify until dropped.

Retired keys live as public JWKs in a JWKS file (``jwt_previous_public_keys_path``). The service publishes and
accepts the current key plus every key in that file, so tokens and audit checkpoints signed before a rotation
stay valid; removing a key from the file (``keys rotate --keep N``, or by hand) ends its validity at the next
restart. Rotation writes the retired key to the file before replacing the private key, so at no moment is a key
that signed live tokens missing from the accepted set.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from auth.tokens import SigningKey, jwks
from imaging_cloud.settings import Settings


def load_previous_keys(path: Path) -> list[dict[str, Any]]:
    """The retired public keys in the JWKS file at ``path``, newest first (none if the file is absent)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f"{path} is not a JWKS document (an object with a 'keys' list)")
    return jwks(entries)["keys"]  # checks every entry has a kid, no private members, no duplicates


def published_keys(current: SigningKey, previous: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The JWKS this service publishes and verifies against: the current key first, then the retired ones."""
    return jwks([current, *(entry for entry in previous if entry.get("kid") != current.kid)])


@dataclass(frozen=True)
class Rotation:
    retired_kid: str
    new_kid: str
    dropped_kids: tuple[str, ...]
    """Retired keys removed from the accepted set by ``keep`` (their tokens and checkpoints stop verifying)."""


def _replace_file(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to a private temporary file next to ``path`` and rename it into place (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def rotate_signing_key(settings: Settings, *, keep: int | None = None) -> Rotation:
    """Retire the current signing key into the previous-keys file and put a new key of the same algorithm in
    its place. ``keep`` bounds how many retired keys stay accepted (newest first); ``None`` keeps them all.

    Workers read keys at start: restart them after a rotation. Raises ``FileNotFoundError`` if there is no
    current key to rotate.
    """
    if keep is not None and keep < 0:
        raise ValueError("keep must not be negative")
    key_path = settings.effective_jwt_signing_key_path
    previous_path = settings.effective_jwt_previous_public_keys_path
    current = SigningKey.from_pem(key_path.read_bytes())
    retired = [current.public_jwk(), *(e for e in load_previous_keys(previous_path) if e["kid"] != current.kid)]
    kept, dropped = (retired, []) if keep is None else (retired[:keep], retired[keep:])
    new = SigningKey.generate(current.alg)
    document = json.dumps(jwks(kept), indent=2) + "\n"
    _replace_file(previous_path, document.encode("utf-8"), 0o644)
    _replace_file(key_path, new.to_pem(), 0o600)
    return Rotation(retired_kid=current.kid, new_kid=new.kid, dropped_kids=tuple(e["kid"] for e in dropped))
