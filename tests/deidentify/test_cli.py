from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from deidentify import remap_uid
from deidentify.cli import main
from tests.deidentify.corpus import OUYANG, WANG, serialize

UID_KEY = "cli-uid-key-0123456789"


@pytest.fixture
def keyfile(tmp_path: Path) -> Path:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"uid_key": UID_KEY, "pseudonym_key": "cli-pseudonym-key-0123456789"}))
    return path


@pytest.fixture
def folder(tmp_path: Path, study: Callable[..., list[Dataset]]) -> Path:
    """Input files named after the patient (as hospitals do), nested, plus one refused and one non-DICOM file.

    The refused file has burned-in text (flag YES) in a palette-colour image, which Clean Pixel Data cannot check.
    """
    root = tmp_path / "in"
    for person in (WANG, OUYANG):
        directory = root / person.chinese_name / "CT"
        directory.mkdir(parents=True)
        for index, ds in enumerate(study(person)):
            (directory / f"{person.national_id}-{index}.dcm").write_bytes(serialize(ds))
    refused = study(WANG)[0]
    refused.BurnedInAnnotation = "YES"
    refused.PhotometricInterpretation = "PALETTE COLOR"
    (root / "burned.dcm").write_bytes(serialize(refused))
    (root / "notes.txt").write_text("not dicom")
    return root


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_run_writes_outputs_named_from_new_uids_and_summarizes_refusals(
    folder: Path, keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], jobs: str
) -> None:
    out = tmp_path / "out"
    refused_list = tmp_path / "refused.jsonl"
    argv = ["run", str(folder), str(out), "--keys", str(keyfile), "--jobs", jobs, "--refused-list", str(refused_list)]
    code = main(argv)
    printed = capsys.readouterr().out
    assert code == 1
    assert "done: 8" in printed and "pixel-check-impossible: 1" in printed and "not-dicom: 1" in printed
    files = sorted(out.rglob("*.dcm"))
    assert len(files) == 8
    for path in files:
        ds = pydicom.dcmread(path)
        relative = path.relative_to(out).parts
        assert relative == (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), f"{ds.SOPInstanceUID}.dcm")
        data = path.read_bytes()
        for person in (WANG, OUYANG):
            assert person.chinese_name.encode("utf-8") not in data and person.national_id.encode() not in data
    assert not any(WANG.chinese_name in str(p) or WANG.national_id in str(p) for p in out.rglob("*"))
    rows = [json.loads(line) for line in refused_list.read_text().splitlines()]
    assert {row["reason"] for row in rows} == {"pixel-check-impossible", "not-dicom"}


def test_run_pseudonymizes_by_patient_id_and_remaps_uids_with_the_key_file(
    folder: Path, keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    main(["run", str(folder / WANG.chinese_name), str(out), "--keys", str(keyfile), "--jobs", "1"])
    capsys.readouterr()
    outputs = [pydicom.dcmread(path) for path in sorted(out.rglob("*.dcm"))]
    assert len({str(ds.PatientID) for ds in outputs}) == 1
    study_uid = str(pydicom.dcmread(next((folder / WANG.chinese_name).rglob("*.dcm"))).StudyInstanceUID)
    assert {str(ds.StudyInstanceUID) for ds in outputs} == {remap_uid(study_uid, UID_KEY.encode())}


def test_verify_command_reports_residue_and_passes_clean_output(
    folder: Path, keyfile: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    known = tmp_path / "known.json"
    known.write_text(json.dumps({"names": [WANG.chinese_name], "ids": [WANG.national_id]}), encoding="utf-8")
    out = tmp_path / "out"
    main(["run", str(folder), str(out), "--keys", str(keyfile), "--jobs", "1"])
    capsys.readouterr()
    assert main(["verify", str(out), "--known-identifiers", str(known)]) == 0
    assert main(["verify", str(folder / WANG.chinese_name), "--known-identifiers", str(known)]) == 1
    printed = capsys.readouterr().out
    assert "known-identifier at (0010,0010)" in printed


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "missing-folder", "out", "--keys", "keys.json"],
        ["run"],
        ["explain", "NotATag"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_with_2(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2


def test_short_keys_are_a_usage_error(folder: Path, tmp_path: Path) -> None:
    weak = tmp_path / "weak.json"
    weak.write_text(json.dumps({"uid_key": "short", "pseudonym_key": "short"}))
    assert main(["run", str(folder), str(tmp_path / "out"), "--keys", str(weak)]) == 2


def test_profiles_and_explain_describe_the_rules(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    assert "clinical-sharing" in capsys.readouterr().out
    assert main(["explain", "(0008,1030)"]) == 0
    printed = capsys.readouterr().out
    assert "Study Description" in printed and "clinical-sharing: C" in printed and "research: C" in printed
