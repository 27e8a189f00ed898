"""Short-lived access tokens: asymmetric JWTs, keys published as a JWKS, algorithms pinned on verify.

This is the only module that imports ``jose``. python-jose trusts the token's own ``alg`` header unless the
caller pins the algorithms, so every verification here pins them twice: to the verifier's allowed list and to
the algorithm of the one key the token's ``kid`` selects. HMAC algorithms and ``none`` can never be allowed,
which closes the classic "HS256 signed with the public key" confusion.

Revocation by ``jti`` needs the database and is the service's job; everything else about a token's validity
(signature, ``kid``, ``iss``, ``aud``, ``exp``, ``nbf``, ``iat``, ``jti`` present) is decided here.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import stat
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, get_args

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jose import jwk, jws
from jose.exceptions import JOSEError

logger = logging.getLogger(__name__)

Algorithm = Literal["RS256", "ES256"]
"""The only signature algorithms this project issues or accepts."""

SUPPORTED_ALGORITHMS: frozenset[str] = frozenset(get_args(Algorithm))

RSA_KEY_BITS = 2048
"""Size of generated RSA keys; loaded RSA keys must be at least this large."""

MAX_TOKEN_LENGTH = 8192
"""Longer bearer strings are rejected before any parsing (cheap defence against oversized input)."""

REGISTERED_CLAIMS: frozenset[str] = frozenset({"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "role", "institution"})
"""Claims this module sets and checks itself; ``extra`` may not override them."""

_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")

TokenErrorCode = Literal["token-invalid", "token-expired", "token-not-yet-valid"]

_PUBLIC_MESSAGES: dict[TokenErrorCode, str] = {
    "token-invalid": "the token is not valid",
    "token-expired": "the token has expired",
    "token-not-yet-valid": "the token is not valid yet",
}


class InvalidToken(Exception):
    """A token was rejected.

    ``code`` and ``str(exc)`` are safe to show to the caller; ``detail`` says precisely why (for example
    ``"unknown-kid"`` or ``"bad-signature"``) and is meant for the audit trail and tests, never for the
    response: telling an attacker which check failed helps them forge the next attempt.
    """

    def __init__(self, code: TokenErrorCode, detail: str) -> None:
        super().__init__(_PUBLIC_MESSAGES[code])
        self.code: TokenErrorCode = code
        self.detail = detail


def _b64url_uint(value: int, length: int | None = None) -> str:
    size = length if length is not None else max(1, (value.bit_length() + 7) // 8)
    return base64.urlsafe_b64encode(value.to_bytes(size, "big")).rstrip(b"=").decode("ascii")


PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _public_members(private_key: PrivateKey) -> tuple[Algorithm, dict[str, str]]:
    """The RFC 7638 required members of the public key (exactly what the thumbprint hashes)."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        numbers = private_key.public_key().public_numbers()
        return "RS256", {"e": _b64url_uint(numbers.e), "kty": "RSA", "n": _b64url_uint(numbers.n)}
    point = private_key.public_key().public_numbers()
    x, y = _b64url_uint(point.x, 32), _b64url_uint(point.y, 32)
    return "ES256", {"crv": "P-256", "kty": "EC", "x": x, "y": y}


_THUMBPRINT_MEMBERS: dict[str, tuple[str, ...]] = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y")}


def jwk_thumbprint(public_jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint (base64url) of an RSA or EC JWK: the ``kid`` this module assigns."""
    names = _THUMBPRINT_MEMBERS.get(public_jwk.get("kty", ""))
    if names is None or not all(isinstance(public_jwk.get(name), str) for name in names):
        raise ValueError("thumbprints are defined here for RSA and EC keys with all required members")
    required = {name: public_jwk[name] for name in names}
    canonical = json.dumps(required, separators=(",", ":"), ensure_ascii=True)
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _check_private_key(private_key: object) -> PrivateKey:
    if isinstance(private_key, rsa.RSAPrivateKey):
        if private_key.key_size < RSA_KEY_BITS:
            raise ValueError(f"RSA signing keys must have at least {RSA_KEY_BITS} bits")
        return private_key
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise ValueError("EC signing keys must use the P-256 curve (ES256)")
        return private_key
    raise ValueError("signing keys must be RSA (RS256) or EC P-256 (ES256)")


@dataclass(frozen=True)
class SigningKey:
    """A private signing key with its ``kid`` (the RFC 7638 JWK thumbprint) and algorithm.

    The ``kid`` is derived from the key itself, so the same PEM always publishes under the same ``kid`` on
    every worker and after every restart, and two different keys can never collide.
    """

    private_key: PrivateKey = field(repr=False, compare=False)  # equality by kid: the thumbprint names the key
    kid: str
    alg: Algorithm

    @classmethod
    def _of(cls, private_key: object) -> SigningKey:
        checked = _check_private_key(private_key)
        alg, members = _public_members(checked)
        return cls(private_key=checked, kid=jwk_thumbprint(members), alg=alg)

    @classmethod
    def generate(cls, alg: Algorithm = "ES256") -> SigningKey:
        """A fresh key: P-256 for ES256 (small, fast), 2048-bit RSA for RS256."""
        if alg == "ES256":
            return cls._of(ec.generate_private_key(ec.SECP256R1()))
        if alg == "RS256":
            return cls._of(rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS))
        raise ValueError("unsupported signing algorithm")

    @classmethod
    def from_pem(cls, pem: bytes) -> SigningKey:
        """Load an unencrypted PEM private key (PKCS#8, or traditional RSA / EC)."""
        try:
            private_key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError("not an unencrypted PEM private key") from exc
        return cls._of(private_key)

    def to_pem(self) -> bytes:
        """PKCS#8 PEM, unencrypted: protect the file, not the bytes (see ``load_or_create_signing_key``)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def public_jwk(self) -> dict[str, str]:
        """The public half as a JWK, ready for a JWKS document."""
        _, members = _public_members(self.private_key)
        return {**members, "kid": self.kid, "alg": self.alg, "use": "sig"}


def load_or_create_signing_key(path: Path, *, create: bool, alg: Algorithm = "ES256") -> SigningKey:
    """Load the signing key at ``path``; if missing and ``create`` is true, generate one there (mode 0600).

    Creation is atomic and race-free across worker processes: the key is written to a private temporary file
    and hard-linked into place, so every process ends up with the same key and none reads a half-written file.
    Without ``create`` a missing file raises ``FileNotFoundError`` (production must be given its key).
    """
    try:
        return _load_key_file(path)
    except FileNotFoundError:
        if not create:
            raise
    key = SigningKey.generate(alg)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".signing-key-")
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file with mode 0600
            handle.write(key.to_pem())
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return _load_key_file(path)  # another process won the race: use its key
    finally:
        os.unlink(temporary)
    logger.info("created a new %s token signing key (kid %s)", key.alg, key.kid)
    return key


def _load_key_file(path: Path) -> SigningKey:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("token signing key file is accessible to group or others; chmod 600 it")
    return SigningKey.from_pem(path.read_bytes())


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: dt.datetime


def _utc_now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    return now


class TokenIssuer:
    """Signs access tokens for one issuer and audience with one key (the current one during a rotation)."""

    def __init__(self, key: SigningKey, issuer: str, audience: str) -> None:
        if not issuer or not audience:
            raise ValueError("issuer and audience must not be empty")
        self.key = key
        self.issuer = issuer
        self.audience = audience
        self._jose_key = jwk.construct(key.to_pem().decode("ascii"), key.alg)

    def issue(
        self,
        *,
        subject: str,
        role: str | None,
        ttl: dt.timedelta,
        now: dt.datetime | None = None,
        institution: str | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> IssuedToken:
        """A token valid from ``now`` for ``ttl``; ``extra`` adds claims but never overrides checked ones.

        ``role=None`` leaves the ``role`` claim out, as an external identity provider's ID token does (the
        development EHC issuer mints those); verify such tokens with ``require_role=False``.
        """
        if not subject or role == "":
            raise ValueError("subject and role must not be empty")
        if ttl <= dt.timedelta(0):
            raise ValueError("ttl must be positive")
        if institution is not None and not institution:
            raise ValueError("institution must be None or non-empty")
        extra = dict(extra or {})
        clash = REGISTERED_CLAIMS.intersection(extra)
        if clash:
            raise ValueError(f"extra claims may not override {sorted(clash)}")
        issued_at = int(_utc_now(now).timestamp())
        expires = issued_at + max(1, int(ttl.total_seconds()))
        jti = secrets.token_urlsafe(18)
        claims: dict[str, object] = {
            **extra,
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued_at,
            "nbf": issued_at,
            "exp": expires,
            "jti": jti,
        }
        if role is not None:
            claims["role"] = role
        if institution is not None:
            claims["institution"] = institution
        token = jws.sign(claims, self._jose_key, headers={"kid": self.key.kid}, algorithm=self.key.alg)
        return IssuedToken(token=token, jti=jti, expires_at=dt.datetime.fromtimestamp(expires, dt.UTC))


def jwks(keys: Iterable[SigningKey | Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """A JWKS document of public keys; during a rotation pass the new key and the old one (or its public JWK).

    Public JWKs given as mappings are checked: they must carry a ``kid`` and no private members. Duplicate
    ``kid`` values are refused, since a verifier could not tell the keys apart.
    """
    published: list[dict[str, Any]] = []
    seen: set[str] = set()
    for key in keys:
        entry: dict[str, Any] = key.public_jwk() if isinstance(key, SigningKey) else dict(key)
        kid = entry.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ValueError("every published key needs a kid")
        if _PRIVATE_JWK_MEMBERS.intersection(entry):
            raise ValueError("refusing to publish private key material")
        if kid in seen:
            raise ValueError("duplicate kid in JWKS")
        seen.add(kid)
        published.append(entry)
    return {"keys": published}


@dataclass(frozen=True)
class Claims:
    """The verified content of a token. ``extra`` holds every claim not listed in ``REGISTERED_CLAIMS``."""

    subject: str
    role: str
    institution: str | None
    jti: str
    issued_at: dt.datetime
    expires_at: dt.datetime
    extra: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class _VerificationKey:
    alg: str
    key: object  # a jose Key bound to ``alg``


def _implied_algorithm(entry: Mapping[str, Any]) -> str | None:
    if entry.get("kty") == "RSA":
        return "RS256"
    if entry.get("kty") == "EC" and entry.get("crv") == "P-256":
        return "ES256"
    return None


def _verification_keys(public_jwks: Mapping[str, Any], algorithms: frozenset[str]) -> dict[str, _VerificationKey]:
    entries = public_jwks.get("keys")
    if not isinstance(entries, list | tuple):
        raise ValueError("a JWKS needs a 'keys' list")
    keys: dict[str, _VerificationKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError("JWKS entries must be objects")
        if _PRIVATE_JWK_MEMBERS.intersection(entry):
            raise ValueError("a JWKS for verification must not contain private key material")
        kid = entry.get("kid")
        if entry.get("use", "sig") != "sig" or not isinstance(kid, str) or not kid:
            continue  # encryption keys and keys a token cannot name are of no use here
        implied = _implied_algorithm(entry)
        alg = entry.get("alg", implied)
        if implied is None or alg not in algorithms:
            continue  # a key type or algorithm this verifier does not accept (say a foreign RS512 key)
        if alg != implied:
            raise ValueError("JWKS entry's alg does not match its key type")
        if kid in keys:
            raise ValueError("duplicate kid in JWKS")
        try:
            keys[kid] = _VerificationKey(alg=alg, key=jwk.construct(dict(entry), alg))
        except JOSEError as exc:
            raise ValueError("unusable public key in JWKS") from exc
    return keys


def _b64url_json(segment: str) -> object:
    padded = segment + "=" * (-len(segment) % 4)
    try:
        return json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except ValueError:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are all ValueErrors
        return None


def _numeric_date(claims: Mapping[str, object], name: str) -> float:
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidToken("token-invalid", f"bad-{name}")
    return float(value)


def _nonempty_str(claims: Mapping[str, object], name: str) -> str:
    value = claims.get(name)
    if not isinstance(value, str) or not value:
        raise InvalidToken("token-invalid", f"missing-{name}")
    return value


class TokenVerifier:
    """Verifies tokens of one issuer and audience against that issuer's JWKS.

    A token must name a ``kid`` found in the JWKS, and its ``alg`` must be both in ``algorithms`` and the
    key's own algorithm. Time claims are compared with ``leeway_seconds`` of clock skew allowed.
    ``require_role`` and ``require_jti`` may be switched off for a trusted external issuer's OpenID Connect
    ID tokens, which carry neither; the claims then read as ``""`` when absent (and are still checked if present).
    """

    def __init__(
        self,
        public_jwks: Mapping[str, Any],
        issuer: str,
        audience: str,
        algorithms: Sequence[str] = ("RS256", "ES256"),
        leeway_seconds: int = 30,
        *,
        require_role: bool = True,
        require_jti: bool = True,
    ) -> None:
        pinned = frozenset(algorithms)
        if not pinned or not pinned <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"algorithms must be a non-empty subset of {sorted(SUPPORTED_ALGORITHMS)}")
        if not issuer or not audience:
            raise ValueError("issuer and audience must not be empty")
        if not 0 <= leeway_seconds <= 300:
            raise ValueError("leeway_seconds must be between 0 and 300")
        self.issuer = issuer
        self.audience = audience
        self.algorithms = pinned
        self.leeway_seconds = leeway_seconds
        self.require_role = require_role
        self.require_jti = require_jti
        self._keys = _verification_keys(public_jwks, pinned)

    @property
    def kids(self) -> frozenset[str]:
        """The key ids this verifier accepts."""
        return frozenset(self._keys)

    def verify(self, token: str, *, now: dt.datetime | None = None) -> Claims:
        """The token's claims if it is authentic and currently valid; otherwise ``InvalidToken``."""
        at = _utc_now(now).timestamp()
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or not _COMPACT_JWS.fullmatch(token):
            raise InvalidToken("token-invalid", "malformed")
        header = _b64url_json(token.split(".", 1)[0])
        if not isinstance(header, dict):
            raise InvalidToken("token-invalid", "malformed-header")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise InvalidToken("token-invalid", "alg-not-allowed")
        if "crit" in header:
            raise InvalidToken("token-invalid", "unsupported-crit")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token-invalid", "missing-kid")
        key = self._keys.get(kid)
        if key is None:
            raise InvalidToken("token-invalid", "unknown-kid")
        if key.alg != alg:
            raise InvalidToken("token-invalid", "alg-key-mismatch")
        try:
            payload = jws.verify(token, key.key, algorithms=[key.alg])
        except JOSEError:
            raise InvalidToken("token-invalid", "bad-signature") from None
        try:
            claims = json.loads(payload)
        except ValueError:
            raise InvalidToken("token-invalid", "malformed-payload") from None
        if not isinstance(claims, dict):
            raise InvalidToken("token-invalid", "malformed-payload")
        return self._check_claims(claims, at)

    def _check_claims(self, claims: dict[str, object], at: float) -> Claims:
        if claims.get("iss") != self.issuer:
            raise InvalidToken("token-invalid", "wrong-issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self.audience not in audiences:
            raise InvalidToken("token-invalid", "wrong-audience")
        expires = _numeric_date(claims, "exp")
        issued = _numeric_date(claims, "iat")
        not_before = _numeric_date(claims, "nbf") if "nbf" in claims else None
        subject = _nonempty_str(claims, "sub")
        role = _nonempty_str(claims, "role") if self.require_role or "role" in claims else ""
        jti = _nonempty_str(claims, "jti") if self.require_jti or "jti" in claims else ""
        institution = claims.get("institution")
        if institution is not None and (not isinstance(institution, str) or not institution):
            raise InvalidToken("token-invalid", "bad-institution")
        leeway = self.leeway_seconds
        if at >= expires + leeway:
            raise InvalidToken("token-expired", "expired")
        if not_before is not None and at + leeway < not_before:
            raise InvalidToken("token-not-yet-valid", "not-yet-valid")
        if at + leeway < issued:
            raise InvalidToken("token-not-yet-valid", "issued-in-future")
        if expires <= issued:
            raise InvalidToken("token-invalid", "expires-before-issued")
        return Claims(
            subject=subject,
            role=role,
            institution=institution,
            jti=jti,
            issued_at=dt.datetime.fromtimestamp(issued, dt.UTC),
            expires_at=dt.datetime.fromtimestamp(expires, dt.UTC),
            extra=MappingProxyType({k: v for k, v in claims.items() if k not in REGISTERED_CLAIMS}),
        )
