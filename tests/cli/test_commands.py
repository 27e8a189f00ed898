"""The ``imaging-cloud`` command line: help for every subcommand, bootstrap without HTTP, migrate, fsck, serve."""

from __future__ import annotations

import argparse
import io
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from imaging_cloud.app import create_app
from imaging_cloud.cli import build_parser, main
from imaging_cloud.settings import Settings


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[list[str]]:
    """Every (nested) subcommand the parser defines, so a new command is covered without editing this file."""
    found: list[list[str]] = []
    for action in parser._actions:  # argparse keeps subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found.append([*prefix, name])
                found.extend(_subcommands(child, (*prefix, name)))
    return found


SUBCOMMANDS = _subcommands(build_parser())


@pytest.mark.parametrize("command", SUBCOMMANDS, ids="-".join)
def test_every_subcommand_explains_itself(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: imaging-cloud {' '.join(command)}" in capsys.readouterr().out


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Settings:
    """Point the CLI at a test database and data dir through the environment, as an operator would."""
    for name in ("IMAGING_CLOUD_ENVIRONMENT", "IMAGING_CLOUD_OBJECT_STORE", "IMAGING_CLOUD_LOCAL_STORE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IMAGING_CLOUD_DATABASE_URL", database_url)
    return Settings()


def _signs_in(settings: Settings, form: dict[str, str]) -> bool:
    with TestClient(create_app(settings)) as client:
        return client.post("/auth/token", data=form).status_code == 200


def test_institution_and_account_are_created_without_http_and_can_sign_in(
    env: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create-institution", "SXPH", "山西省人民医院示例"]) == 0
    assert main(["create-account", "sxph-pacs", "--role", "hospital", "--institution", "SXPH"]) == 0

    secret = capsys.readouterr().out.rsplit("store it now): ", 1)[1].strip()
    assert _signs_in(env, {"grant_type": "client_credentials", "client_id": "sxph-pacs", "client_secret": secret})


def test_bootstrap_errors_name_the_rule_and_exit_1(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-institution", "SXPH", "山西省人民医院示例"]) == 0
    assert main(["create-institution", "SXPH", "again"]) == 1
    assert main(["create-account", "doc-1", "--role", "doctor", "--institution", "NOPE"]) == 1
    err = capsys.readouterr().err
    assert "(institution-exists)" in err and "(unknown-institution)" in err


def test_create_account_takes_the_secret_from_stdin(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a-long-admin-secret-42\n"))

    assert main(["create-account", "ops-admin", "--role", "admin", "--secret-stdin"]) == 0

    assert "a-long-admin-secret-42" not in capsys.readouterr().out
    assert _signs_in(env, {"grant_type": "password", "username": "ops-admin", "password": "a-long-admin-secret-42"})


def test_migrate_creates_the_schema_in_an_empty_sqlite_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("IMAGING_CLOUD_DATABASE_URL", raising=False)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(tmp_path / "fresh" / "var"))

    assert main(["migrate"]) == 0

    engine = create_engine(f"sqlite:///{tmp_path / 'fresh' / 'var' / 'imaging-cloud.sqlite3'}")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()


def test_fsck_reports_a_clean_empty_archive(env: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fsck"]) == 0
    assert json.loads(capsys.readouterr().out)["clean"] is True


def test_serve_refuses_production_mode_with_demo_keys(
    env: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("IMAGING_CLOUD_ENVIRONMENT", "production")

    assert main(["serve"]) == 2
    assert "IMAGING_CLOUD_PSEUDONYM_KEY" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_serve_migrates_and_answers_health_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("IMAGING_CLOUD_ENVIRONMENT", "IMAGING_CLOUD_DATABASE_URL", "IMAGING_CLOUD_OBJECT_STORE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(tmp_path / "served"))  # a fresh SQLite file: serve migrates it
    port = _free_port()
    server = subprocess.Popen(  # the real entry point in factory mode, settings from the environment
        [sys.executable, "-m", "imaging_cloud.cli", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stderr.read().decode() if server.stderr else ""
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
    finally:
        server.terminate()
        server.wait(timeout=10)
