from __future__ import annotations

import re

import pytest

from deidentify import Keys, Subject, is_well_known_uid, make_pseudonym, remap_uid

KEY = b"uid-key-0123456789abcdef"


def test_remapped_uid_is_a_deterministic_2_25_uid_under_64_characters() -> None:
    uid = "1.2.156.112536.110101199003074258.1.2.3"
    out = remap_uid(uid, KEY)
    assert re.fullmatch(r"2\.25\.(0|[1-9][0-9]*)", out)
    assert len(out) <= 64
    assert remap_uid(uid, KEY) == out == remap_uid(uid + "\x00", KEY)
    assert remap_uid(uid, b"another-key-0123456789") != out
    assert remap_uid(uid + "1", KEY) != out
    assert "110101199003074258" not in out


@pytest.mark.parametrize(
    "uid",
    [
        "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
        "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
        "1.2.840.10008.1.2.4.50",  # JPEG Baseline
        "1.2.840.10008.1.4.1.1",  # a well-known frame of reference
    ],
)
def test_well_known_standard_uids_are_not_remapped(uid: str) -> None:
    assert is_well_known_uid(uid)
    assert remap_uid(uid, KEY) == uid


def test_pseudonym_is_keyed_stable_and_lo_safe() -> None:
    first = make_pseudonym("110101199003074258", b"pseudonym-key-0123456789")
    assert first == make_pseudonym("110101199003074258", b"pseudonym-key-0123456789")
    assert first != make_pseudonym("110101199003074258", b"other-key-0123456789")
    assert first != make_pseudonym("110101199003074259", b"pseudonym-key-0123456789")
    assert len(first) <= 64 and re.fullmatch(r"[A-Z2-7]+", first)
    with pytest.raises(ValueError):
        make_pseudonym("", b"k")


def test_keys_and_subject_validate_and_do_not_show_secrets() -> None:
    with pytest.raises(ValueError):
        Keys(uid_key=b"")
    assert "uid-key" not in repr(Keys(uid_key=b"uid-key-secret"))
    with pytest.raises(ValueError):
        Subject(pseudonym="a\\b")
    with pytest.raises(ValueError):
        Subject(pseudonym="x" * 65)
