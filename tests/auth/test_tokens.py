from __future__ import annotations

import datetime as dt
import json
import logging
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from auth.tokens import (
    Claims,
    InvalidToken,
    SigningKey,
    TokenIssuer,
    TokenVerifier,
    jwk_thumbprint,
    jwks,
    load_or_create_signing_key,
)
from tests.auth.forge import b64url, b64url_json, forge, hs256_with_public_pem, signing_input, split

ISS = "https://imaging-cloud.test"
AUD = "imaging-cloud"
NOW = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=5)


def verifier_for(*keys: SigningKey, **options: object) -> TokenVerifier:
    return TokenVerifier(jwks(keys), issuer=ISS, audience=AUD, **options)  # type: ignore[arg-type]


def issue(key: SigningKey, **overrides: object) -> str:
    arguments: dict[str, object] = {"subject": "account:7", "role": "hospital", "ttl": TTL, "now": NOW}
    arguments.update(overrides)
    return TokenIssuer(key, ISS, AUD).issue(**arguments).token  # type: ignore[arg-type]


def honest_claims(now: dt.datetime = NOW) -> dict[str, object]:
    at = int(now.timestamp())
    return {
        "iss": ISS,
        "aud": AUD,
        "sub": "account:7",
        "role": "hospital",
        "iat": at,
        "nbf": at,
        "exp": at + 300,
        "jti": "j-1",
    }


def rejection(verifier: TokenVerifier, token: str, now: dt.datetime = NOW) -> InvalidToken:
    with pytest.raises(InvalidToken) as caught:
        verifier.verify(token, now=now)
    return caught.value


# --- keys ---------------------------------------------------------------------------------------------------


def test_kid_is_the_rfc7638_thumbprint_of_the_rfc_example_key() -> None:
    example = {
        "kty": "RSA",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF"
        "V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c"
        "7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF"
        "44-csFCur-kEgU8awapJzKnqDKgw",
    }
    assert jwk_thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_public_jwk_names_its_kid_alg_and_use_and_holds_no_private_parts(any_key: SigningKey) -> None:
    public = any_key.public_jwk()
    assert public["kid"] == any_key.kid == jwk_thumbprint(public)
    assert public["alg"] == any_key.alg
    assert public["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & public.keys()


def test_generate_gives_the_requested_key_type(es_key: SigningKey, rs_key: SigningKey) -> None:
    assert es_key.alg == "ES256" and es_key.public_jwk()["crv"] == "P-256"
    assert rs_key.alg == "RS256" and rs_key.public_jwk()["kty"] == "RSA"
    assert es_key.kid != SigningKey.generate("ES256").kid


def test_pem_round_trip_keeps_kid_and_alg(any_key: SigningKey) -> None:
    loaded = SigningKey.from_pem(any_key.to_pem())
    assert (loaded.kid, loaded.alg) == (any_key.kid, any_key.alg)
    assert loaded == any_key and hash(loaded) == hash(any_key)
    assert b"PRIVATE KEY" in any_key.to_pem()


def test_repr_never_shows_private_key(es_key: SigningKey) -> None:
    assert "private" not in repr(es_key).lower()
    assert es_key.kid in repr(es_key)


def _pem(private: object) -> bytes:
    assert isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey)
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    "pem",
    [
        pytest.param(lambda: _pem(rsa.generate_private_key(65537, 1024)), id="rsa-1024"),
        pytest.param(lambda: _pem(ec.generate_private_key(ec.SECP384R1())), id="ec-p384"),
        pytest.param(lambda: _pem(ed25519.Ed25519PrivateKey.generate()), id="ed25519"),
        pytest.param(lambda: b"-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n", id="garbage"),
        pytest.param(
            lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pass"),
            ),
            id="encrypted",
        ),
    ],
)
def test_from_pem_refuses_weak_unsupported_or_unreadable_keys(pem: object) -> None:
    assert callable(pem)
    with pytest.raises(ValueError):
        SigningKey.from_pem(pem())


def test_load_or_create_writes_a_private_file_and_reloads_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.pem"
    created = load_or_create_signing_key(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signing_key(path, create=False).kid == created.kid
    assert load_or_create_signing_key(path, create=True).kid == created.kid
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temporary file left behind


def test_load_or_create_can_create_rsa_keys(tmp_path: Path) -> None:
    assert load_or_create_signing_key(tmp_path / "k.pem", create=True, alg="RS256").alg == "RS256"


def test_load_without_create_requires_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_or_create_signing_key(tmp_path / "missing.pem", create=False)
    assert not (tmp_path / "missing.pem").exists()


def test_loading_a_key_readable_by_others_warns(
    tmp_path: Path, es_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "signing.pem"
    path.write_bytes(es_key.to_pem())
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="auth.tokens"):
        assert load_or_create_signing_key(path, create=False).kid == es_key.kid
    assert "chmod 600" in caplog.text


# --- issuing ------------------------------------------------------------------------------------------------


def test_issued_token_verifies_to_its_claims(any_key: SigningKey) -> None:
    issued = TokenIssuer(any_key, ISS, AUD).issue(
        subject="account:7", role="doctor", ttl=TTL, now=NOW, institution="H1", extra={"person_ref": "p-1"}
    )
    claims = verifier_for(any_key).verify(issued.token, now=NOW)
    assert claims == Claims(
        subject="account:7",
        role="doctor",
        institution="H1",
        jti=issued.jti,
        issued_at=NOW,
        expires_at=NOW + TTL,
        extra={"person_ref": "p-1"},
    )
    assert issued.expires_at == NOW + TTL


def test_issued_token_header_names_kid_and_alg_and_claims_include_nbf(any_key: SigningKey) -> None:
    header, claims, _ = split(issue(any_key))
    assert header["kid"] == any_key.kid
    assert header["alg"] == any_key.alg
    assert claims["nbf"] == claims["iat"] == int(NOW.timestamp())
    assert "institution" not in claims


def test_every_token_gets_a_fresh_jti(es_key: SigningKey) -> None:
    issuer = TokenIssuer(es_key, ISS, AUD)
    jtis = {issuer.issue(subject="s", role="admin", ttl=TTL).jti for _ in range(20)}
    assert len(jtis) == 20


@pytest.mark.parametrize("claim", ["sub", "role", "exp", "jti", "iss", "aud", "institution"])
def test_extra_claims_cannot_override_checked_claims(es_key: SigningKey, claim: str) -> None:
    with pytest.raises(ValueError):
        issue(es_key, extra={claim: "x"})


@pytest.mark.parametrize(
    "overrides",
    [
        {"ttl": dt.timedelta(0)},
        {"ttl": dt.timedelta(seconds=-1)},
        {"subject": ""},
        {"role": ""},
        {"institution": ""},
        {"now": dt.datetime(2030, 1, 1)},
    ],
    ids=["zero-ttl", "negative-ttl", "empty-subject", "empty-role", "empty-institution", "naive-now"],
)
def test_issuer_refuses_meaningless_tokens(es_key: SigningKey, overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        issue(es_key, **overrides)


# --- verifying: the honest path and the forging helper ----------------------------------------------------


def test_forged_token_with_honest_claims_verifies(any_key: SigningKey) -> None:
    token = forge(any_key, {"alg": any_key.alg, "kid": any_key.kid}, honest_claims())
    assert verifier_for(any_key).verify(token, now=NOW).jti == "j-1"


def test_audience_list_containing_ours_is_accepted(es_key: SigningKey) -> None:
    token = forge(es_key, {"alg": "ES256", "kid": es_key.kid}, {**honest_claims(), "aud": ["other", AUD]})
    assert verifier_for(es_key).verify(token, now=NOW).subject == "account:7"


def test_verify_without_now_uses_the_current_time(es_key: SigningKey) -> None:
    token = issue(es_key, now=dt.datetime.now(dt.UTC))
    assert verifier_for(es_key).verify(token).role == "hospital"
    long_ago = issue(es_key, now=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert rejection(verifier_for(es_key), long_ago, now=dt.datetime.now(dt.UTC)).code == "token-expired"


# --- verifying: attacks -------------------------------------------------------------------------------------


def test_alg_none_is_rejected(es_key: SigningKey) -> None:
    data = signing_input({"alg": "none", "kid": es_key.kid}, honest_claims())
    unsigned = rejection(verifier_for(es_key), f"{data}.")
    assert (unsigned.code, unsigned.detail) == ("token-invalid", "malformed")
    with_junk_signature = rejection(verifier_for(es_key), f"{data}.{b64url(b'x' * 64)}")
    assert with_junk_signature.detail == "alg-not-allowed"


def test_hs256_signed_with_the_public_key_is_rejected(rs_key: SigningKey) -> None:
    token = hs256_with_public_pem(rs_key, {"alg": "HS256", "kid": rs_key.kid}, honest_claims())
    error = rejection(verifier_for(rs_key), token)
    assert (error.code, error.detail) == ("token-invalid", "alg-not-allowed")


@pytest.mark.parametrize("algorithms", [("HS256",), ("none",), ("RS256", "HS256"), ()])
def test_verifier_cannot_be_configured_with_symmetric_or_no_algorithms(
    rs_key: SigningKey, algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(jwks([rs_key]), ISS, AUD, algorithms=algorithms)


def test_alg_must_match_the_key_the_kid_names(rs_key: SigningKey, es_key: SigningKey) -> None:
    token = forge(es_key, {"alg": "ES256", "kid": rs_key.kid}, honest_claims())
    assert rejection(verifier_for(rs_key, es_key), token).detail == "alg-key-mismatch"


def test_unknown_kid_is_rejected(es_key: SigningKey, other_key: SigningKey) -> None:
    assert rejection(verifier_for(es_key), issue(other_key)).detail == "unknown-kid"


def test_missing_kid_is_rejected(es_key: SigningKey) -> None:
    token = forge(es_key, {"alg": "ES256"}, honest_claims())
    assert rejection(verifier_for(es_key), token).detail == "missing-kid"


def test_attacker_key_embedded_in_header_is_ignored(es_key: SigningKey, other_key: SigningKey) -> None:
    header = {"alg": "ES256", "kid": es_key.kid, "jwk": other_key.public_jwk()}
    token = forge(other_key, header, honest_claims())
    assert rejection(verifier_for(es_key), token).detail == "bad-signature"


def test_tampered_payload_is_rejected(any_key: SigningKey) -> None:
    token = issue(any_key)
    header, _, signature = token.split(".")
    promoted = {**split(token)[1], "role": "admin"}
    error = rejection(verifier_for(any_key), f"{header}.{b64url_json(promoted)}.{signature}")
    assert (error.code, error.detail) == ("token-invalid", "bad-signature")


def test_tampered_signature_is_rejected(any_key: SigningKey) -> None:
    header, claims, signature = issue(any_key).split(".")
    flipped = ("B" if signature[0] == "A" else "A") + signature[1:]
    assert rejection(verifier_for(any_key), f"{header}.{claims}.{flipped}").detail == "bad-signature"


def test_crit_header_is_rejected(es_key: SigningKey) -> None:
    token = forge(es_key, {"alg": "ES256", "kid": es_key.kid, "crit": ["exp"]}, honest_claims())
    assert rejection(verifier_for(es_key), token).detail == "unsupported-crit"


def test_expired_token_is_rejected_after_the_leeway(es_key: SigningKey) -> None:
    token = issue(es_key)
    verifier = verifier_for(es_key, leeway_seconds=30)
    assert verifier.verify(token, now=NOW + TTL + dt.timedelta(seconds=29)).subject == "account:7"
    error = rejection(verifier, token, now=NOW + TTL + dt.timedelta(seconds=30))
    assert (error.code, str(error)) == ("token-expired", "the token has expired")


def test_not_yet_valid_token_is_rejected_beyond_the_leeway(es_key: SigningKey) -> None:
    verifier = verifier_for(es_key, leeway_seconds=30)
    assert verifier.verify(issue(es_key, now=NOW + dt.timedelta(seconds=30)), now=NOW).subject == "account:7"
    error = rejection(verifier, issue(es_key, now=NOW + dt.timedelta(seconds=31)))
    assert (error.code, error.detail) == ("token-not-yet-valid", "not-yet-valid")


def test_nbf_alone_in_the_future_is_rejected(es_key: SigningKey) -> None:
    claims = {**honest_claims(), "nbf": int(NOW.timestamp()) + 120}
    token = forge(es_key, {"alg": "ES256", "kid": es_key.kid}, claims)
    assert rejection(verifier_for(es_key), token).detail == "not-yet-valid"


def test_iat_in_the_future_is_rejected_even_without_nbf(es_key: SigningKey) -> None:
    claims = {**honest_claims(), "iat": int(NOW.timestamp()) + 120}
    del claims["nbf"]
    token = forge(es_key, {"alg": "ES256", "kid": es_key.kid}, claims)
    assert rejection(verifier_for(es_key), token).detail == "issued-in-future"


def test_wrong_issuer_is_rejected(es_key: SigningKey) -> None:
    token = TokenIssuer(es_key, "https://evil.test", AUD).issue(subject="s", role="admin", ttl=TTL, now=NOW)
    assert rejection(verifier_for(es_key), token.token).detail == "wrong-issuer"


def test_wrong_audience_is_rejected(es_key: SigningKey) -> None:
    token = TokenIssuer(es_key, ISS, "another-service").issue(subject="s", role="admin", ttl=TTL, now=NOW)
    assert rejection(verifier_for(es_key), token.token).detail == "wrong-audience"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"jti": None}, "missing-jti"),
        ({"jti": ""}, "missing-jti"),
        ({"sub": None}, "missing-sub"),
        ({"role": None}, "missing-role"),
        ({"exp": None}, "bad-exp"),
        ({"exp": "2030-01-01"}, "bad-exp"),
        ({"exp": True}, "bad-exp"),
        ({"iat": None}, "bad-iat"),
        ({"nbf": "soon"}, "bad-nbf"),
        ({"iss": None}, "wrong-issuer"),
        ({"aud": None}, "wrong-audience"),
        ({"institution": 5}, "bad-institution"),
        ({"exp": int(NOW.timestamp()) - 60, "iat": int(NOW.timestamp()) - 120, "nbf": None}, "expired"),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else str(value),
)
def test_claims_missing_or_malformed_are_rejected(es_key: SigningKey, change: dict[str, object], detail: str) -> None:
    claims = {**honest_claims(), **change}
    claims = {name: value for name, value in claims.items() if value is not None}
    token = forge(es_key, {"alg": "ES256", "kid": es_key.kid}, claims)
    assert rejection(verifier_for(es_key), token).detail == detail


def test_exp_not_after_iat_is_rejected(es_key: SigningKey) -> None:
    at = int(NOW.timestamp())
    claims = {**honest_claims(), "iat": at - 10, "nbf": at - 10, "exp": at - 20}
    token = forge(es_key, {"alg": "ES256", "kid": es_key.kid}, claims)
    verifier = verifier_for(es_key, leeway_seconds=60)
    assert rejection(verifier, token).detail == "expires-before-issued"


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c.d", "a..c", "eyJhbGciOiJFUzI1NiJ9.e30.!!!", "x" * 9000, "é.é.é", "W10.e30.c2ln"],
)
def test_malformed_tokens_are_rejected(es_key: SigningKey, token: str) -> None:
    assert rejection(verifier_for(es_key), token).code == "token-invalid"


def test_non_object_payload_is_rejected(es_key: SigningKey) -> None:
    header = {"alg": "ES256", "kid": es_key.kid}
    data = f"{b64url_json(header)}.{b64url_json([1, 2])}"
    token = forge(es_key, header, {})  # signature over another payload, then swap payload in:
    token = f"{data}.{token.split('.')[2]}"
    assert rejection(verifier_for(es_key), token).code == "token-invalid"


def test_rejection_message_leaks_nothing_about_the_token(es_key: SigningKey, other_key: SigningKey) -> None:
    token = issue(other_key, subject="person:secret-subject")
    error = rejection(verifier_for(es_key), token)
    assert str(error) == "the token is not valid"
    assert "secret-subject" not in str(error) and other_key.kid not in str(error)
    assert error.args == ("the token is not valid",)


_FUZZ_VERIFIER = TokenVerifier(jwks([SigningKey.generate("ES256")]), ISS, AUD)


@settings(max_examples=300, deadline=None)
@given(
    st.text(max_size=300)
    | st.from_regex(r"[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{1,40}\.[A-Za-z0-9_-]{1,90}", fullmatch=True)
)
def test_arbitrary_strings_only_ever_raise_invalid_token(token: str) -> None:
    with pytest.raises(InvalidToken):
        _FUZZ_VERIFIER.verify(token, now=NOW)


# --- JWKS and rotation --------------------------------------------------------------------------------------


def test_rotation_overlap_verifies_tokens_of_old_and_new_keys(es_key: SigningKey, rs_key: SigningKey) -> None:
    old_token, new_token = issue(rs_key), issue(es_key)
    overlap = TokenVerifier(json.loads(json.dumps(jwks([es_key, rs_key.public_jwk()]))), ISS, AUD)
    assert overlap.kids == {es_key.kid, rs_key.kid}
    assert overlap.verify(old_token, now=NOW).jti != overlap.verify(new_token, now=NOW).jti
    after = verifier_for(es_key)
    assert after.verify(new_token, now=NOW).subject == "account:7"
    assert rejection(after, old_token).detail == "unknown-kid"


def test_jwks_refuses_private_material_missing_kid_and_duplicates(es_key: SigningKey) -> None:
    private = {**es_key.public_jwk(), "d": "AAAA"}
    without_kid = {k: v for k, v in es_key.public_jwk().items() if k != "kid"}
    attempts: list[list[SigningKey | dict[str, str]]] = [[private], [without_kid], [es_key, es_key.public_jwk()]]
    for keys in attempts:
        with pytest.raises(ValueError):
            jwks(keys)


def test_verifier_refuses_a_jwks_with_private_material(es_key: SigningKey) -> None:
    with pytest.raises(ValueError):
        TokenVerifier({"keys": [{**es_key.public_jwk(), "d": "AAAA"}]}, ISS, AUD)


def test_verifier_refuses_a_key_whose_alg_contradicts_its_type(es_key: SigningKey) -> None:
    with pytest.raises(ValueError):
        TokenVerifier({"keys": [{**es_key.public_jwk(), "alg": "RS256"}]}, ISS, AUD)


def test_verifier_ignores_keys_it_cannot_use(es_key: SigningKey, rs_key: SigningKey) -> None:
    usable = es_key.public_jwk()
    encryption = {**rs_key.public_jwk(), "use": "enc"}
    symmetric = {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}
    nameless = {k: v for k, v in SigningKey.generate().public_jwk().items() if k != "kid"}
    verifier = TokenVerifier({"keys": [usable, encryption, nameless]}, ISS, AUD)
    assert verifier.kids == {es_key.kid}
    assert rejection(verifier, issue(rs_key)).detail == "unknown-kid"
    with pytest.raises(ValueError):  # 'k' is secret material: never acceptable in a public JWKS
        TokenVerifier({"keys": [usable, symmetric]}, ISS, AUD)


def test_verifier_pinned_to_one_algorithm_refuses_the_other(es_key: SigningKey, rs_key: SigningKey) -> None:
    verifier = TokenVerifier(jwks([es_key, rs_key]), ISS, AUD, algorithms=("ES256",))
    assert verifier.kids == {es_key.kid}
    assert rejection(verifier, issue(rs_key)).detail == "alg-not-allowed"


def test_jwk_without_alg_gets_the_algorithm_of_its_key_type(rs_key: SigningKey) -> None:
    bare = {k: v for k, v in rs_key.public_jwk().items() if k not in ("alg", "use")}
    verifier = TokenVerifier({"keys": [bare]}, ISS, AUD)
    assert verifier.verify(issue(rs_key), now=NOW).role == "hospital"


@pytest.mark.parametrize("document", [{}, {"keys": "x"}, {"keys": ["x"]}])
def test_verifier_refuses_a_malformed_jwks(document: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        TokenVerifier(document, ISS, AUD)


def test_an_id_token_without_role_verifies_only_where_role_is_not_required(es_key: SigningKey) -> None:
    token = issue(es_key, role=None)
    assert "role" not in split(token)[1]
    assert rejection(verifier_for(es_key), token).detail == "missing-role"
    claims = verifier_for(es_key, require_role=False).verify(token, now=NOW)
    assert (claims.subject, claims.role) == ("account:7", "")


def test_an_id_token_without_jti_verifies_only_where_jti_is_not_required(es_key: SigningKey) -> None:
    without_jti = {k: v for k, v in honest_claims().items() if k not in {"jti", "role"}}
    token = forge(es_key, {"alg": es_key.alg, "kid": es_key.kid}, without_jti)
    assert rejection(verifier_for(es_key, require_role=False), token).detail == "missing-jti"
    claims = verifier_for(es_key, require_role=False, require_jti=False).verify(token, now=NOW)
    assert claims.jti == ""


def test_optional_role_and_jti_are_still_checked_when_present(es_key: SigningKey) -> None:
    lenient = verifier_for(es_key, require_role=False, require_jti=False)
    for change in ({"role": ""}, {"jti": 7}):
        token = forge(es_key, {"alg": es_key.alg, "kid": es_key.kid}, {**honest_claims(), **change})
        with pytest.raises(InvalidToken):
            lenient.verify(token, now=NOW)
