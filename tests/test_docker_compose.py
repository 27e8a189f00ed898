"""docker-compose.yml and the Dockerfile are checked by parsing them: no Docker engine runs where tests run.

The compose file is interpolated here the way ``docker compose`` does it (``${VAR:?msg}``, ``${VAR:-default}``,
``$$``), and the service's environment is fed to the real ``Settings``, so a renamed setting or a forgotten
production secret fails a test instead of a deployment.
"""

from __future__ import annotations

import re
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr

from imaging_cloud import cli
from imaging_cloud.settings import DEMO_SECRET_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SECRET_SETTINGS = ("pseudonym_key", "uid_key", "index_key", "encryption_key", "s3_access_key", "s3_secret_key")
HOST_SECRETS = {
    "POSTGRES_PASSWORD": "pg-password-0123456789",
    "MINIO_ROOT_USER": "minio-root",
    "MINIO_ROOT_PASSWORD": "minio-root-password-0123",
    "IMAGING_CLOUD_S3_ACCESS_KEY": "service-access-key",
    "IMAGING_CLOUD_S3_SECRET_KEY": "service-secret-key-0123",
    "IMAGING_CLOUD_PSEUDONYM_KEY": "pseudonym-key-from-a-vault-0123",
    "IMAGING_CLOUD_UID_KEY": "uid-key-from-a-vault-0123",
    "IMAGING_CLOUD_INDEX_KEY": "index-key-from-a-vault-0123",
    "IMAGING_CLOUD_ENCRYPTION_KEY": "encryption-key-from-a-vault-0123",
    "JWT_SIGNING_KEY_FILE": "/srv/secrets/jwt-signing.pem",
}

_VARIABLE = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")
_BRACED = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>.*))?$", re.DOTALL)


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose-file interpolation (the subset of the compose specification this project uses, exactly)."""
    if isinstance(value, dict):
        return {interpolate(k, env): interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("bare"):
            return env.get(match.group("bare"), "")
        braced = _BRACED.match(match.group("braced") or "")
        assert braced, f"unsupported interpolation {match.group(0)}"
        name, op, arg = braced.group("name"), braced.group("op"), braced.group("arg") or ""
        current = env.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and unset:
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and unset:
            return interpolate(arg, env)  # type: ignore[no-any-return]
        return current or ""

    return _VARIABLE.sub(substitute, value)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def compose(raw: dict[str, Any]) -> dict[str, Any]:
    return interpolate(raw, HOST_SECRETS)  # type: ignore[no-any-return]


def service_env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def test_compose_defines_the_four_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", "minio", "minio-init", "imaging-cloud"}
    assert compose["services"]["postgres"]["image"].startswith("postgres:16")
    assert compose["services"]["minio"]["image"].startswith("minio/minio")
    assert compose["services"]["minio-init"]["image"].startswith("minio/mc")
    assert compose["services"]["imaging-cloud"]["build"] == "."


def test_service_publishes_port_8000_and_nothing_else_is_published(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["imaging-cloud"]["ports"] == ["8000:8000"]
    for name in ("postgres", "minio", "minio-init"):
        assert "ports" not in services[name], f"{name} must stay on the internal network"


def test_service_waits_for_healthy_backends_and_the_bucket(compose: dict[str, Any]) -> None:
    depends = compose["services"]["imaging-cloud"]["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["minio"]["condition"] == "service_healthy"
    assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert compose["services"]["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    for name in depends:
        assert name in compose["services"]


def test_every_long_running_service_has_a_healthcheck(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["minio"]["healthcheck"]["test"][:2] == ["CMD", "mc"]
    assert "/healthz" in " ".join(services["imaging-cloud"]["healthcheck"]["test"])
    for name in ("postgres", "minio", "imaging-cloud"):
        check = services[name]["healthcheck"]
        assert {"interval", "timeout", "retries"} <= set(check)


def test_data_lives_in_declared_named_volumes(compose: dict[str, Any]) -> None:
    declared = set(compose["volumes"])
    mounts = {name: [m.split(":") for m in s.get("volumes", [])] for name, s in compose["services"].items()}
    assert ["postgres-data", "/var/lib/postgresql/data"] in mounts["postgres"]
    assert ["minio-data", "/data"] in mounts["minio"]
    used = {source for service_mounts in mounts.values() for source, *_ in service_mounts}
    assert used == declared, "every named volume is used and every used volume is declared (no host paths)"


def test_bucket_created_by_init_is_the_one_the_service_uses(compose: dict[str, Any]) -> None:
    init_env = service_env(compose["services"]["minio-init"])
    app_env = service_env(compose["services"]["imaging-cloud"])
    assert init_env["BUCKET"] == app_env["IMAGING_CLOUD_S3_BUCKET"] == "imaging-cloud"
    assert init_env["SERVICE_ACCESS_KEY"] == app_env["IMAGING_CLOUD_S3_ACCESS_KEY"]
    script = " ".join(compose["services"]["minio-init"]["command"])
    assert 'mc mb --ignore-existing "local/$BUCKET"' in script
    assert "http://minio:9000" in script


def test_every_imaging_cloud_variable_is_a_real_setting(raw: dict[str, Any]) -> None:
    fields = {f"IMAGING_CLOUD_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"IMAGING_CLOUD_[A-Z0-9_]+", COMPOSE.read_text() + DOCKERFILE.read_text()))
    assert named, "the compose file configures the service through IMAGING_CLOUD_* variables"
    assert named <= fields, f"not settings: {sorted(named - fields)}"
    assert set(service_env(raw["services"]["imaging-cloud"])) <= fields


def test_compose_environment_builds_valid_production_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = service_env(compose["services"]["imaging-cloud"])
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.environment == "production"
    assert settings.object_store == "s3"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in settings.database_url
    assert settings.s3_endpoint == "minio:9000"
    assert settings.s3_secure is False
    for name in SECRET_SETTINGS:
        value: SecretStr = getattr(settings, name)
        assert value.get_secret_value() == HOST_SECRETS[f"IMAGING_CLOUD_{name.upper()}"]
        assert not value.get_secret_value().startswith(DEMO_SECRET_PREFIX)
    assert settings.jwt_signing_key_path == Path("/run/secrets/jwt_signing_key")


def test_signing_key_is_mounted_as_a_compose_secret(compose: dict[str, Any]) -> None:
    assert "jwt_signing_key" in compose["services"]["imaging-cloud"]["secrets"]
    assert compose["secrets"]["jwt_signing_key"]["file"] == HOST_SECRETS["JWT_SIGNING_KEY_FILE"]


@pytest.mark.parametrize("missing", sorted(HOST_SECRETS))
def test_compose_refuses_to_start_without_each_secret(raw: dict[str, Any], missing: str) -> None:
    env = {k: v for k, v in HOST_SECRETS.items() if k != missing}
    with pytest.raises(MissingVariable, match=missing):
        interpolate(raw, env)


def test_no_secret_value_is_written_in_the_compose_file(raw: dict[str, Any]) -> None:
    app_env = service_env(raw["services"]["imaging-cloud"])
    for name in SECRET_SETTINGS:
        assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", app_env[f"IMAGING_CLOUD_{name.upper()}"])
    for service in ("postgres", "minio", "minio-init"):
        for key, value in service_env(raw["services"][service]).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "ROOT_USER", "ACCESS_KEY")):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{service}.{key} must come from the env"
    assert ":?" in app_env["IMAGING_CLOUD_DATABASE_URL"]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


def test_dockerfile_runs_the_cli_serve_command_as_a_non_root_user() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    assert any(kw == "RUN" and "pip install ." in arg for kw, arg in instructions)
    users = [arg for kw, arg in instructions if kw == "USER"]
    assert users and users[-1] not in ("root", "0")
    cmd = [arg for kw, arg in instructions if kw == "CMD"]
    assert len(cmd) == 1
    argv = yaml.safe_load(cmd[0])  # exec form is a JSON array
    assert argv[:2] == ["imaging-cloud", "serve"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    assert argv[argv.index("--port") + 1] == "8000"
    assert any(kw == "EXPOSE" and arg == "8000" for kw, arg in instructions)
    health = [arg for kw, arg in instructions if kw == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0]


def test_dockerfile_command_is_accepted_by_the_cli() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["imaging-cloud"] == "imaging_cloud.cli:main"
    argv = yaml.safe_load(next(arg for kw, arg in _dockerfile_instructions() if kw == "CMD"))
    parsed = cli.build_parser().parse_args(argv[1:])
    assert parsed.command == "serve"


def test_build_context_holds_what_the_dockerfile_copies_and_no_local_state() -> None:
    ignore = DOCKERIGNORE.read_text().splitlines()
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert "*" in ignore, "deny by default: nothing local (venv, data, keys) enters the image"
    copied = set()
    for keyword, arg in _dockerfile_instructions():
        if keyword == "COPY":
            *sources, _target = shlex.split(arg)
            copied |= {source.rstrip("/").removeprefix("./") for source in sources}
    assert copied <= allowed
    assert {"imaging_cloud", "deidentify", "auth", "pyproject.toml"} <= copied
