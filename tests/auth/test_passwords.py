from __future__ import annotations

import logging

import pytest

from auth.passwords import (
    DEFAULT_PASSWORD_OPTIONS,
    PasswordOptions,
    hash_secret,
    needs_rehash,
    verify_secret,
)

FAST = PasswordOptions(time_cost=1, memory_cost=64, parallelism=1)
"""Low cost for tests only; the parameters are real argon2id, just cheap."""


def test_hash_verifies_its_secret_and_nothing_else() -> None:
    stored = hash_secret("correct horse battery staple", options=FAST)
    assert verify_secret(stored, "correct horse battery staple", options=FAST)
    assert not verify_secret(stored, "correct horse battery stapl", options=FAST)
    assert not verify_secret(stored, "", options=FAST)


def test_hash_is_salted_argon2id_with_the_chosen_parameters() -> None:
    first, second = hash_secret("s3cret", options=FAST), hash_secret("s3cret", options=FAST)
    assert first != second
    assert first.startswith("$argon2id$v=19$m=64,t=1,p=1$")
    assert "s3cret" not in first


def test_default_parameters_follow_owasp_argon2id_minimum() -> None:
    stored = hash_secret("a long enough passphrase")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert verify_secret(stored, "a long enough passphrase")
    assert not needs_rehash(stored, options=DEFAULT_PASSWORD_OPTIONS)


def test_unicode_secrets_work() -> None:
    stored = hash_secret("健康卡密码🙂", options=FAST)
    assert verify_secret(stored, "健康卡密码🙂", options=FAST)
    assert not verify_secret(stored, "健康卡密码", options=FAST)


def test_missing_account_verifies_against_a_decoy_and_always_fails() -> None:
    assert not verify_secret(None, "decoy secret for accounts that do not exist", options=FAST)
    assert not verify_secret(None, "anything", options=FAST)


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=64,t=1,p=1$broken", "$2b$12$abcdefghijk"])
def test_unparseable_stored_hash_fails_closed_without_logging_it(stored: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="auth.passwords"):
        assert verify_secret(stored, "whatever", options=FAST) is False
    if stored:
        assert stored not in caplog.text


def test_rehash_is_needed_when_parameters_change() -> None:
    stored = hash_secret("s3cret", options=FAST)
    assert not needs_rehash(stored, options=FAST)
    assert needs_rehash(stored, options=PasswordOptions(time_cost=2, memory_cost=64, parallelism=1))
    assert needs_rehash("garbage", options=FAST)


def test_empty_secret_is_never_hashed() -> None:
    with pytest.raises(ValueError):
        hash_secret("", options=FAST)


@pytest.mark.parametrize(
    "options",
    [
        {"time_cost": 0},
        {"parallelism": 0},
        {"memory_cost": 4},
        {"memory_cost": 8, "parallelism": 2},
        {"hash_len": 8},
        {"salt_len": 8},
    ],
)
def test_unsafe_options_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        PasswordOptions(**options)
