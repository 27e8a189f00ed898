"""``imaging-cloud dimse`` and ``imaging-cloud dimse-peer add``: bootstrap, the real process, clean shutdown."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
from pathlib import Path

import pytest
from pynetdicom import AE

from imaging_cloud.cli import main
from tests.dimse.certificates import self_signed
from tests.dimse.conftest import protocol_only

VERIFICATION = "1.2.840.10008.1.1"


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> dict[str, str]:
    """The CLI's settings come from the environment, as an operator would set them."""
    for name in [n for n in os.environ if n.startswith("IMAGING_CLOUD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IMAGING_CLOUD_DATABASE_URL", database_url)
    return dict(os.environ)


@pytest.mark.parametrize("command", [["dimse"], ["dimse-peer"], ["dimse-peer", "add"]], ids="-".join)
def test_dimse_subcommands_explain_themselves(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: imaging-cloud {' '.join(command)}" in capsys.readouterr().out


def test_peer_is_added_for_an_existing_institution(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["create-institution", "SXPH", "山西省人民医院"]) == 0
    assert main(["dimse-peer", "add", "PACS1", "--institution", "SXPH", "--address", "10.0.0.0/8"]) == 0
    assert "DIMSE peer PACS1 added: stores for institution SXPH, from 10.0.0.0/8" in capsys.readouterr().out


def test_peer_for_an_unknown_institution_exits_1_naming_the_rule(
    env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dimse-peer", "add", "PACS1", "--institution", "NOWHERE"]) == 1
    assert "unknown-institution" in capsys.readouterr().err


@protocol_only
@pytest.mark.parametrize(
    "options",
    [["--tls-cert", "server.crt"], ["--tls-ca", "ca.crt"], ["--tls-cert", "missing.crt", "--tls-key", "missing.key"]],
    ids=["cert-without-key", "ca-without-cert", "missing-files"],
)
def test_incomplete_or_unreadable_tls_options_are_usage_errors(
    env: dict[str, str], options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dimse", *options]) == 2
    assert "imaging-cloud:" in capsys.readouterr().err


@protocol_only
def test_invalid_ae_title_is_a_usage_error(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dimse", "--ae-title", "MUCH-TOO-LONG-AE-TITLE"]) == 2
    assert "invalid AE title" in capsys.readouterr().err


@protocol_only
def test_port_in_use_is_a_usage_error(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["dimse", "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_dimse_process_serves_tls_and_stops_cleanly_on_sigterm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The real entry point, settings from the environment (embedded SQLite; the other tests cover PostgreSQL)."""
    for name in [n for n in os.environ if n.startswith("IMAGING_CLOUD_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(tmp_path / "var"))
    assert main(["create-institution", "SXPH", "山西省人民医院"]) == 0
    assert main(["dimse-peer", "add", "PACS1", "--institution", "SXPH"]) == 0
    pem = self_signed(tmp_path, "scp")
    port = _free_port()
    command = [sys.executable, "-m", "imaging_cloud.cli", "dimse", "--port", str(port)]
    command += ["--tls-cert", str(pem.cert), "--tls-key", str(pem.key)]
    server = subprocess.Popen(
        command, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert server.stderr is not None
    try:
        log = ""
        while "listening on" not in log:
            line = server.stderr.readline()
            assert line, f"the SCP exited before listening: {log}"
            log += line
        assert f"listening on 127.0.0.1:{port} (TLS," in log
        assert _echo(port, ssl.create_default_context(cafile=pem.cert)) == 0x0000
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=15) == 0
        log += server.stderr.read()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    assert "association from PACS1 at 127.0.0.1 accepted" in log
    assert "DIMSE SCP stopped (0 associations aborted)" in log
    assert "Traceback" not in log


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _echo(port: int, tls: ssl.SSLContext) -> int:
    ae = AE(ae_title="PACS1")
    ae.acse_timeout = ae.dimse_timeout = ae.connection_timeout = 5
    ae.add_requested_context(VERIFICATION)
    association = ae.associate("127.0.0.1", port, ae_title="IMAGINGCLOUD", tls_args=(tls, "localhost"))
    assert association.is_established
    status = int(association.send_c_echo().Status)
    association.release()
    return status
