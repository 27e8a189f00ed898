from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from deidentify.table import (
    CURVE_PATTERN,
    OVERLAY_COMMENTS_PATTERN,
    OVERLAY_DATA_PATTERN,
    PRIVATE_PATTERN,
    Option,
    load_table,
    parse_tag,
    row_for_tag,
)

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "reference" / "ps3.15-annex-e-table.json"
GENERATOR = REPO / "scripts" / "generate-annex-e-table"
PACKAGE_DATA = REPO / "deidentify" / "_standard" / "annex_e_table.json"


@pytest.mark.skipif(not REFERENCE.is_file(), reason="../shared/reference is not checked out beside the repo")
def test_committed_table_equals_generator_output_from_reference(tmp_path: Path) -> None:
    output = tmp_path / "annex_e_table.json"
    subprocess.run([sys.executable, str(GENERATOR), str(REFERENCE), "--output", str(output)], check=True)
    assert output.read_bytes() == PACKAGE_DATA.read_bytes()


@pytest.mark.skipif(not REFERENCE.is_file(), reason="../shared/reference is not checked out beside the repo")
def test_table_rows_and_provenance_match_the_reference() -> None:
    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))
    table = load_table()
    assert table.provenance["source_sha256"] == hashlib.sha256(REFERENCE.read_bytes()).hexdigest()
    assert table.edition == "2026d"
    assert len(table.rows) == len(reference) == 657
    for row, raw in zip(table.rows, reference, strict=True):
        assert row.tag == raw["tag"]
        assert row.basic_profile_action == raw["basic_profile_action"]
        assert {o.value: c for o, c in row.options.items()} == {k: v for k, v in raw["options"].items() if v}


def test_generator_refuses_a_table_with_an_unknown_action(tmp_path: Path) -> None:
    bad = tmp_path / "table.json"
    row = {
        "tag": "(0010,0010)",
        "name": "Patient's Name",
        "keyword": "PatientName",
        "vr": "PN",
        "retired": False,
        "in_std_comp_iod": True,
        "basic_profile_action": "Q",
        "options": {option.value: None for option in Option},
    }
    bad.write_text(json.dumps([row]), encoding="utf-8")
    result = subprocess.run(
        [sys.executable, str(GENERATOR), str(bad), "--output", str(tmp_path / "out.json"), "--edition", "2026d"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "unknown action" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_rows_unknown_to_pydicom_match_by_tag_number() -> None:
    table = load_table()
    unknown = [row for row in table.rows if row.keyword is None and row.tag_number is not None]
    assert len(unknown) == 26
    row = row_for_tag(0x00100043)  # Sex Parameters for Clinical Use Category Sequence
    assert row is not None and row.keyword is None
    assert row.basic_profile_action == "X"
    assert row.options[Option.RETAIN_PATIENT_CHARACTERISTICS] == "K"


def test_pattern_rows_govern_curves_overlays_and_private_groups() -> None:
    patterns = load_table().patterns
    assert row_for_tag(0x50000010) is patterns[CURVE_PATTERN]
    assert row_for_tag(0x501E3000) is patterns[CURVE_PATTERN]
    assert row_for_tag(0x60023000) is patterns[OVERLAY_DATA_PATTERN]
    assert row_for_tag(0x601E4000) is patterns[OVERLAY_COMMENTS_PATTERN]
    assert row_for_tag(0x60000010) is patterns[OVERLAY_DATA_PATTERN]  # the overlay plane goes with its data
    assert row_for_tag(0x00091001) is patterns[PRIVATE_PATTERN]
    assert row_for_tag(0x60010010) is patterns[PRIVATE_PATTERN]  # odd group near the overlays is private
    assert row_for_tag(0x00280010) is None  # Rows: not listed


def test_parse_tag_accepts_standard_spellings() -> None:
    assert parse_tag("(0010,0010)") == parse_tag("00100010") == parse_tag("PatientName") == 0x00100010
    assert parse_tag("(60xx,3000)") == 0x60003000
    with pytest.raises(ValueError):
        parse_tag("NotAKeyword")
