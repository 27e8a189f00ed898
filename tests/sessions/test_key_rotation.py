"""Key rotation with overlap: after a rotation the new key signs, the retired one still verifies (tokens and
audit checkpoints) and is published, until it is dropped from the set."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from auth.principals import Role
from auth.tokens import InvalidToken
from imaging_cloud.app import create_app
from imaging_cloud.audit.operations import checkpoint_trail, verify_trail
from imaging_cloud.cli import main
from imaging_cloud.runtime import Runtime
from imaging_cloud.sessions.signing_keys import load_previous_keys, rotate_signing_key
from imaging_cloud.settings import Settings
from tests.conftest import Hospital, mint_token


@pytest.fixture
def restarted(settings: Settings) -> Iterator[list[Runtime]]:
    """Runtimes built after a rotation (a worker restart), disposed at the end."""
    built: list[Runtime] = []
    yield built
    for runtime in built:
        runtime.engine.dispose()


def restart(settings: Settings, built: list[Runtime]) -> Runtime:
    runtime = Runtime.build(settings)
    built.append(runtime)
    return runtime


def test_a_token_signed_by_the_retired_key_still_verifies_and_both_keys_are_published(
    settings: Settings, runtime: Runtime, hospital_a: Hospital, restarted: list[Runtime]
) -> None:
    old_kid = runtime.signing_key.kid
    rotation = rotate_signing_key(settings)
    assert rotation.retired_kid == old_kid and rotation.new_kid != old_kid and rotation.dropped_kids == ()
    after = restart(settings, restarted)
    assert after.signing_key.kid == rotation.new_kid
    after.verifier.verify(hospital_a.token)  # issued before the rotation
    with TestClient(create_app(runtime=after)) as client:
        assert client.get("/dicomweb/studies", headers=hospital_a.headers).status_code == 200
        fresh = mint_token(after, Role.HOSPITAL, hospital_a.code, subject="client:HOSP-A")
        assert client.get("/dicomweb/studies", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200
        published = [key["kid"] for key in client.get("/.well-known/jwks.json").json()["keys"]]
    assert published == [rotation.new_kid, old_kid]
    assert all("d" not in key for key in load_previous_keys(settings.effective_jwt_previous_public_keys_path))
    key_mode = stat.S_IMODE(settings.effective_jwt_signing_key_path.stat().st_mode)
    assert key_mode == 0o600


def test_a_key_dropped_from_the_set_no_longer_verifies(
    settings: Settings, runtime: Runtime, hospital_a: Hospital, restarted: list[Runtime]
) -> None:
    rotate_signing_key(settings)
    middle = restart(settings, restarted)
    middle_token = mint_token(middle, Role.HOSPITAL, hospital_a.code, subject="client:HOSP-A")
    rotation = rotate_signing_key(settings, keep=1)  # keeps the key just retired, drops the first one
    assert rotation.dropped_kids == (runtime.signing_key.kid,)
    after = restart(settings, restarted)
    after.verifier.verify(middle_token)
    with pytest.raises(InvalidToken) as refused:
        after.verifier.verify(hospital_a.token)
    assert refused.value.detail == "unknown-kid"
    with TestClient(create_app(runtime=after)) as client:
        response = client.get("/dicomweb/studies", headers=hospital_a.headers)
    assert response.status_code == 401 and response.json() == {
        "code": "token-invalid",
        "message": "the token is not valid",
    }


def test_checkpoints_signed_before_a_rotation_still_verify(
    settings: Settings, runtime: Runtime, restarted: list[Runtime]
) -> None:
    checkpoint_trail(runtime)
    rotate_signing_key(settings)
    after = restart(settings, restarted)
    checkpoint_trail(after)
    assert verify_trail(after).ok


def test_the_cli_rotates_the_key_of_the_configured_data_dir(
    settings: Settings, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("IMAGING_CLOUD_ENVIRONMENT", "IMAGING_CLOUD_JWT_SIGNING_KEY_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(settings.data_dir))
    old_kid = runtime.signing_key.kid
    assert main(["keys", "rotate"]) == 0
    assert f"{old_kid} retired" in capsys.readouterr().out
    document = json.loads(settings.effective_jwt_previous_public_keys_path.read_text())
    assert [key["kid"] for key in document["keys"]] == [old_kid]
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(settings.data_dir / "empty"))
    assert main(["keys", "rotate"]) == 2  # nothing to rotate: a usage error, not a traceback
