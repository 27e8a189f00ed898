"""Discovery: preamble check, DICOMDIR files skipped in a walk, missing DICOMDIR references reported."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydicom.fileset import FileSet

from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.uploader.discovery import discover, has_dicom_preamble
from tests.uploader.conftest import tiny_datasets, write_study


def test_only_part10_files_are_found_in_path_order(tmp_path: Path, patient: SyntheticPatient) -> None:
    written = write_study(tmp_path / "b", patient, "P", 2) + write_study(tmp_path / "a", patient, "P", 1, seed=2)
    (tmp_path / "notes.txt").write_text("x" * 300, encoding="utf-8")
    (tmp_path / "short").write_bytes(b"DICM")

    found = discover(tmp_path)

    assert [f.path for f in found.files] == sorted(written)
    assert found.not_dicom == 2
    assert not has_dicom_preamble(tmp_path / "notes.txt")


def test_a_walk_skips_the_dicomdir_itself_and_a_dicomdir_reports_missing_files(
    tmp_path: Path, patient: SyntheticPatient
) -> None:
    fileset = FileSet()
    for ds in tiny_datasets(patient, "P", 2):
        fileset.add(ds)
    fileset.write(tmp_path)

    walked = discover(tmp_path)
    assert len(walked.files) == 2 and all(f.path.name != "DICOMDIR" for f in walked.files)

    walked.files[0].path.unlink()
    followed = discover(tmp_path / "DICOMDIR")
    assert len(followed.files) == 1
    assert followed.missing == [walked.files[0].path]


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        discover(tmp_path / "nope")
