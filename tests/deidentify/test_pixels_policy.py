"""Which objects Clean Pixel Data searches, how a profile turns it on, and how frames are chosen (no OCR runs)."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from deidentify import (
    CLINICAL_SHARING,
    RESEARCH,
    PixelPolicy,
    Profile,
    ProfileError,
    load_profile,
    pixel_check_reason,
    profile_from_mapping,
)
from deidentify.cli import main
from deidentify.pixels import searched_frames

CT = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
DIGITAL_MAMMOGRAPHY = "1.2.840.10008.5.1.4.1.1.1.2"


def image(modality: str, sop_class: str = CT, burned_in: str | None = None, pixels: bool = True) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = sop_class
    ds.Modality = modality
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    if pixels:
        ds.PixelData = bytes(4)
    return ds


@pytest.mark.parametrize(
    ("ds", "reason"),
    [
        (image("CT"), None),
        (image("CT", burned_in="NO"), None),
        (image("MR", burned_in="YES"), "burned-in-annotation-flag"),
        (image("CT", burned_in=""), "burned-in-annotation-flag"),
        (image("US", burned_in="NO"), "modality-us"),
        (image("XA"), "modality-xa"),
        (image("DX"), "modality-dx"),
        (image("ES"), "modality-es"),
        (image("CT", sop_class=SECONDARY_CAPTURE), "high-risk-sop-class"),
        (image("MG", sop_class=DIGITAL_MAMMOGRAPHY), None),
        (image("US", pixels=False), None),
    ],
    ids=lambda value: value if isinstance(value, str | None) else None,
)
def test_objects_at_risk_of_burned_in_text_are_chosen_without_reading_pixels(ds: Dataset, reason: str | None) -> None:
    assert pixel_check_reason(ds, PixelPolicy()) == reason


def test_extra_modalities_in_the_policy_are_searched_too() -> None:
    mammogram = image("MG", sop_class=DIGITAL_MAMMOGRAPHY)
    assert pixel_check_reason(mammogram, PixelPolicy(extra_modalities=frozenset({"mg"}))) == "modality-mg"


def test_builtin_profiles_clean_pixel_data_and_keep_it_through_pickling() -> None:
    assert CLINICAL_SHARING.clean_pixel_data == PixelPolicy()
    assert RESEARCH.clean_pixel_data == PixelPolicy()
    tuned = Profile(name="tuned", clean_pixel_data=PixelPolicy(frozenset({"MG"}), max_ocr_frames=7, margin=5))
    restored = pickle.loads(pickle.dumps(tuned))
    assert restored == tuned and restored.clean_pixel_data == tuned.clean_pixel_data
    assert Profile(name="plain").clean_pixel_data is None


def test_custom_profile_turns_clean_pixel_data_on_and_tunes_it(tmp_path: Path) -> None:
    path = tmp_path / "teaching.toml"
    path.write_text(
        'name = "teaching"\noptions = ["clean_descriptors", "clean_pixel_data"]\n'
        '[clean_pixel_data]\nextra_modalities = ["MG"]\nmax_ocr_frames = 5\nmargin = 4\n',
        encoding="utf-8",
    )
    profile = load_profile(path)
    assert profile.clean_pixel_data == PixelPolicy(frozenset({"MG"}), max_ocr_frames=5, margin=4)
    assert [o.value for o in profile.options] == ["clean_descriptors"]
    assert profile_from_mapping({"name": "p", "options": ["clean_pixel_data"]}).clean_pixel_data == PixelPolicy()
    assert profile_from_mapping({"name": "p", "options": []}).clean_pixel_data is None


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"name": "p", "clean_pixel_data": {"margin": 2}}, "needs 'clean_pixel_data' in options"),
        ({"name": "p", "options": ["clean_pixel_data"], "clean_pixel_data": {"dpi": 2}}, "unknown keys"),
        ({"name": "p", "options": ["clean_pixel_data"], "clean_pixel_data": {"margin": "2"}}, "integer"),
        ({"name": "p", "options": ["clean_pixel_data"], "clean_pixel_data": {"max_ocr_frames": 0}}, "at least 1"),
        ({"name": "p", "options": ["clean_pixel_data"], "clean_pixel_data": {"extra_modalities": "MG"}}, "list"),
    ],
)
def test_invalid_pixel_settings_in_a_profile_file_are_explained(document: dict[str, object], message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        profile_from_mapping(document)


@pytest.mark.parametrize(
    ("frames", "limit", "expected"),
    [(1, 3, [0]), (3, 3, [0, 1, 2]), (4, 3, [0, 2, 3]), (120, 3, [0, 60, 119]), (120, 1, [0]), (10, 2, [0, 9])],
)
def test_searched_frames_are_evenly_spaced_from_first_to_last(frames: int, limit: int, expected: list[int]) -> None:
    assert searched_frames(frames, limit) == expected


def test_cli_lists_clean_pixel_data_for_the_builtin_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("clean_pixel_data") == 2
    assert main(["explain", "(7FE0,0010)"]) == 0
    assert "text found by OCR" in capsys.readouterr().out
