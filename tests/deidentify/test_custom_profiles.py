from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

from deidentify import ActionCode, Option, ProfileError, load_profile, profile_from_mapping
from deidentify.cli import main
from tests.deidentify.corpus import WANG, serialize

TEACHING = """
name = "teaching"
description = "research plus the institution"
options = ["clean_descriptors", "retain_institution_identity", "retain_longitudinal_full_dates"]

[overrides]
"(0008,1030)" = "X"
SeriesDescription = "K"
"""


def test_profile_file_sets_options_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "teaching.toml"
    path.write_text(TEACHING, encoding="utf-8")
    profile = load_profile(path)
    assert profile.name == "teaching"
    assert profile.options == {
        Option.CLEAN_DESCRIPTORS,
        Option.RETAIN_INSTITUTION_IDENTITY,
        Option.RETAIN_LONGITUDINAL_FULL_DATES,
    }
    study_description = profile.rule_for(0x00081030)
    assert study_description is not None and study_description.action == ActionCode.REMOVE
    institution = profile.rule_for(0x00080080)
    assert institution is not None and institution.action == ActionCode.KEEP


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"name": "x", "colour": "red"}, "unknown keys"),
        ({"options": []}, "'name'"),
        ({"name": "x", "options": ["retain_everything"]}, "unknown options"),
        ({"name": "x", "overrides": {"NotAKeyword": "X"}}, "not a tag"),
        ({"name": "x", "overrides": {"PatientName": "X/Z"}}, "must map to one of"),
        (
            {"name": "x", "options": ["retain_longitudinal_full_dates", "retain_longitudinal_modified_dates"]},
            "mutually exclusive",
        ),
    ],
)
def test_invalid_profile_documents_are_refused_with_a_clear_message(document: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile_from_mapping(document)


def test_cli_runs_with_a_profile_file(tmp_path: Path, study: Callable[..., list[Dataset]]) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / "a.dcm").write_bytes(serialize(study(WANG)[0]))
    profile = tmp_path / "teaching.toml"
    profile.write_text(TEACHING, encoding="utf-8")
    keyfile = tmp_path / "keys.json"
    keyfile.write_text(json.dumps({"uid_key": "k" * 16, "pseudonym_key": "p" * 16}))
    out = tmp_path / "out"
    assert main(["run", str(source), str(out), "--profile", str(profile), "--keys", str(keyfile), "--jobs", "1"]) == 0
    (output,) = out.rglob("*.dcm")
    ds = pydicom.dcmread(output)
    assert "StudyDescription" not in ds
    assert ds.InstitutionName == "北京朝阳医院"
    assert "teaching" in ds.DeidentificationMethod
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\noptions = ["nope"]\n', encoding="utf-8")
    assert main(["run", str(source), str(out), "--profile", str(bad), "--keys", str(keyfile)]) == 2
