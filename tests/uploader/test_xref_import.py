"""``xref import``: created / existing / conflict / invalid, reported by row number and never by value."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
import pytest

from imaging_cloud.cli import main
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from imaging_cloud.uploader.credentials import StaticToken
from imaging_cloud.uploader.xref_import import import_xrefs
from tests.conftest import Hospital
from tests.uploader.conftest import LiveService


def _bad_check_digit(national_id: str) -> str:
    last = national_id[-1]
    return national_id[:-1] + ("0" if last != "0" else "1")


def _csv(tmp_path: Path, patient: SyntheticPatient, other: SyntheticPatient) -> Path:
    rows = [
        "patient_id,issuer,national_id,health_card,name,sex",
        f"H-1,,{patient.national_id},{patient.health_card},{patient.name_zh},{patient.sex}",  # line 2: created
        f"H-2,,{other.national_id},,{other.name_zh},{other.sex}",  # line 3: created
        f"H-1,,{patient.national_id},,,",  # line 4: existing (same triple, same person)
        f"H-3,,{_bad_check_digit(other.national_id)},,,",  # line 5: invalid check digit
        f"H-2,,{patient.national_id},,,",  # line 6: conflict (H-2 is another person)
        f",,{patient.national_id},,,",  # line 7: no patient id
    ]
    path = tmp_path / "xrefs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_xref_import_sorts_rows_into_created_existing_conflicts_and_invalid(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    other = make_patient(random.Random(99))
    summary = import_xrefs(
        _csv(tmp_path, patient, other), service_url=live.url, tokens=StaticToken(hospital_a.token), client=http
    )

    assert summary.created == [2, 3]
    assert summary.existing == [4]
    assert summary.conflicts == [6]
    assert summary.invalid == [(5, "invalid-national-id"), (7, "missing-patient-id")]
    assert summary.exit_code == 1


def test_xref_import_command_prints_row_numbers_and_no_identifiers(
    live: LiveService,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = make_patient(random.Random(99))
    path = _csv(tmp_path, patient, other)

    code = main(["xref", "import", str(path), "--url", live.url, "--token", hospital_a.token])

    out = capsys.readouterr().out
    assert code == 1
    assert "created:   2" in out and "existing:  1" in out and "conflicts: 1  (rows 6)" in out
    assert "row 5: invalid-national-id" in out
    for value in (patient.national_id, other.national_id, patient.name_zh, "H-1", "H-2"):
        assert value not in out


def test_xref_import_refuses_a_file_without_the_required_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")

    assert main(["xref", "import", str(path), "--url", "http://127.0.0.1:9", "--token", "t"]) == 2
    assert "national_id" in capsys.readouterr().err
