"""``imaging-cloud upload``: exit codes 0 / 1 / 2 and a summary table on stdout."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest

from imaging_cloud.cli import main
from imaging_cloud.demo.synthetic import SyntheticPatient
from tests.conftest import Hospital
from tests.uploader.conftest import LiveService, register_over_http, write_study


def test_upload_command_exits_0_and_prints_the_summary_when_everything_is_stored(
    live: LiveService,
    http: httpx.Client,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    register_over_http(http, live, hospital_a, patient, "C-1")
    write_study(tmp_path / "src", patient, "C-1", 3)

    code = main(
        [
            "upload",
            str(tmp_path / "src"),
            "--url",
            live.url + "/dicomweb/",
            "--token",
            hospital_a.token,
            "--resume",
            "--state-file",
            str(tmp_path / "state.jsonl"),
            "--no-progress",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0
    assert "stored" in out and " 3 " in out


def test_upload_command_exits_1_when_some_files_fail(
    live: LiveService,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    write_study(tmp_path / "src", patient, "NOT-REGISTERED", 2)

    code = main(["upload", str(tmp_path / "src"), "--url", live.url, "--token", hospital_a.token, "--no-progress"])

    assert code == 1
    assert "unknown-patient" in capsys.readouterr().out


def test_upload_command_exits_2_when_the_service_cannot_be_reached(
    patient: SyntheticPatient, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_study(tmp_path / "src", patient, "C-2", 1)
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    code = main(
        [
            "upload",
            str(tmp_path / "src"),
            "--url",
            f"http://127.0.0.1:{port}",
            "--token",
            "t",
            "--retries",
            "1",
            "--no-progress",
        ]
    )

    assert code == 2
    assert "ConnectError" in capsys.readouterr().out


def test_upload_command_exits_2_on_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["upload", str(tmp_path), "--url", "ftp://x", "--token", "t"]) == 2
    assert main(["upload", str(tmp_path / "missing"), "--url", "http://127.0.0.1:9", "--token", "t"]) == 2
    assert main(["upload", str(tmp_path), "--url", "http://127.0.0.1:9"]) == 2
    assert (
        main(
            [
                "upload",
                str(tmp_path),
                "--url",
                "http://127.0.0.1:9",
                "--token",
                "t",
                "--client-id",
                "c",
                "--client-secret",
                "s",
            ]
        )
        == 2
    )
    assert "--token" in capsys.readouterr().err
