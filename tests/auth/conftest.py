"""Keys are slow-ish to generate (RSA): one of each per test session is enough."""

from __future__ import annotations

import pytest

from auth.tokens import SigningKey


@pytest.fixture(scope="session")
def es_key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture(scope="session")
def rs_key() -> SigningKey:
    return SigningKey.generate("RS256")


@pytest.fixture(scope="session")
def other_key() -> SigningKey:
    return SigningKey.generate("ES256")


@pytest.fixture(scope="session", params=["ES256", "RS256"])
def any_key(request: pytest.FixtureRequest, es_key: SigningKey, rs_key: SigningKey) -> SigningKey:
    return es_key if request.param == "ES256" else rs_key
