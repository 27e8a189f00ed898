"""Secret hashing (passwords, client secrets) with argon2id.

Cost parameters come from a frozen ``PasswordOptions``; the default follows the OWASP password storage
recommendation for argon2id (19 MiB, 2 passes, 1 lane), a few tens of milliseconds per hash. Hashes carry
their own parameters, so raising the cost later only needs ``needs_rehash`` at the next successful sign-in.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PasswordOptions:
    """argon2id cost parameters; ``memory_cost`` in KiB."""

    time_cost: int = 2
    memory_cost: int = 19 * 1024
    parallelism: int = 1
    hash_len: int = 32
    salt_len: int = 16

    def __post_init__(self) -> None:
        if self.time_cost < 1 or self.parallelism < 1:
            raise ValueError("time_cost and parallelism must be at least 1")
        if self.memory_cost < 8 * self.parallelism:
            raise ValueError("memory_cost must be at least 8 KiB per lane")
        if self.hash_len < 16 or self.salt_len < 16:
            raise ValueError("hash_len and salt_len must be at least 16 bytes")


DEFAULT_PASSWORD_OPTIONS = PasswordOptions()


@functools.lru_cache(maxsize=8)
def _hasher(options: PasswordOptions) -> PasswordHasher:
    return PasswordHasher(
        time_cost=options.time_cost,
        memory_cost=options.memory_cost,
        parallelism=options.parallelism,
        hash_len=options.hash_len,
        salt_len=options.salt_len,
        type=Type.ID,
    )


@functools.lru_cache(maxsize=8)
def _decoy_hash(options: PasswordOptions) -> str:
    return _hasher(options).hash("decoy secret for accounts that do not exist")


def hash_secret(secret: str, *, options: PasswordOptions = DEFAULT_PASSWORD_OPTIONS) -> str:
    """An argon2id PHC string (salted, self-describing) for a non-empty secret."""
    if not secret:
        raise ValueError("refusing to hash an empty secret")
    return _hasher(options).hash(secret)


def verify_secret(stored_hash: str | None, secret: str, *, options: PasswordOptions = DEFAULT_PASSWORD_OPTIONS) -> bool:
    """True only if ``secret`` matches ``stored_hash``; False for a wrong secret, never an exception.

    Pass ``stored_hash=None`` when the account does not exist: a decoy hash with the same cost is verified
    instead and False returned, so the response time does not tell which account names exist. A stored hash
    that cannot be parsed also gives False (and a warning without the hash): failing closed is the only safe
    answer.
    """
    target = _decoy_hash(options) if stored_hash is None else stored_hash
    try:
        matched = _hasher(options).verify(target, secret)
    except VerificationError:  # includes VerifyMismatchError
        return False
    except InvalidHashError:
        logger.warning("stored secret hash is not a valid argon2 hash; treating as mismatch")
        return False
    return matched and stored_hash is not None


def needs_rehash(stored_hash: str, *, options: PasswordOptions = DEFAULT_PASSWORD_OPTIONS) -> bool:
    """True if ``stored_hash`` was made with other parameters (or another argon2 variant) than ``options``."""
    try:
        return _hasher(options).check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
