"""``imaging-cloud audit verify`` and ``audit checkpoint``: what an operator (or cron) runs against the database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from imaging_cloud.cli import main
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from tests.audit.conftest import all_events, without_append_only_triggers


@pytest.fixture
def operator_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str) -> Iterator[Runtime]:
    """The environment an operator's shell has, and a runtime on the same database and key for checking."""
    for name in ("IMAGING_CLOUD_ENVIRONMENT", "IMAGING_CLOUD_OBJECT_STORE", "IMAGING_CLOUD_LOCAL_STORE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IMAGING_CLOUD_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("IMAGING_CLOUD_DATABASE_URL", database_url)
    runtime = Runtime.build(Settings())
    yield runtime
    runtime.engine.dispose()


def test_checkpoint_then_verify(operator_runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "checkpoint"]) == 0
    assert "checkpoint signed at seq 1" in capsys.readouterr().out
    assert main(["audit", "checkpoint"]) == 0
    capsys.readouterr()
    assert main(["audit", "verify"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["events_checked"] == 2 and report["checkpoints_checked"] == 2
    assert [(e.actor, e.action) for e in all_events(operator_runtime)] == [("system:cli", "checkpoint-audit")] * 2


def test_verify_exits_1_and_names_the_break(operator_runtime: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    for _ in range(3):
        assert main(["audit", "checkpoint"]) == 0
    with operator_runtime.engine.begin() as connection:
        without_append_only_triggers(connection)
        connection.execute(text("DELETE FROM audit_events WHERE seq = 2"))
    operator_runtime.engine.dispose()
    capsys.readouterr()
    assert main(["audit", "verify"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["first_broken"]["problem"] == "sequence-gap" and report["first_broken"]["seq"] == 2
    assert {"problem": "checkpoint-event-missing", "seq": 2, "detail": "checkpoint 2 names a missing event"} in report[
        "findings"
    ]


@pytest.mark.parametrize("command", [["audit"], ["audit", "verify"], ["audit", "checkpoint"]], ids="-".join)
def test_audit_commands_explain_themselves(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: imaging-cloud {' '.join(command)}" in capsys.readouterr().out
