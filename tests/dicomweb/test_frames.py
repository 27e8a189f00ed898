"""Frames: representation chosen from Accept, frame lists, and decoded or as-stored frame bytes."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.encaps import generate_frames
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from imaging_cloud.dicomweb.frames import (
    OCTET_STREAM,
    check_frame_numbers,
    choose_frame_representation,
    compressed_frames,
    decoded_frames,
    parse_frame_numbers,
)
from imaging_cloud.dicomweb.negotiation import parse_accept
from imaging_cloud.errors import BadRequest, NotAcceptable, NotFound


def _choose(accept: str, stored: str) -> tuple[str, str]:
    chosen = choose_frame_representation(parse_accept([accept] if accept else []), stored)
    return chosen.media_type, chosen.transfer_syntax


def test_representation_follows_accept() -> None:
    assert _choose("", JPEGLSLossless) == (OCTET_STREAM, ExplicitVRLittleEndian)
    assert _choose('multipart/related; type="*/*"', ExplicitVRLittleEndian) == (OCTET_STREAM, ExplicitVRLittleEndian)
    assert _choose('multipart/related; type="image/jls"', JPEGLSLossless) == ("image/jls", JPEGLSLossless)
    assert _choose('multipart/related; type="image/*"', RLELossless) == ("image/dicom-rle", RLELossless)
    assert _choose(
        f'multipart/related; type="application/octet-stream"; transfer-syntax={ExplicitVRLittleEndian}', RLELossless
    ) == (OCTET_STREAM, ExplicitVRLittleEndian)
    # not decodable here (MPEG-2 video) and no frame media type: nothing to offer
    for accept, stored in [
        ('multipart/related; type="image/jls"', ExplicitVRLittleEndian),
        ('multipart/related; type="image/jpeg"', RLELossless),
        ("", "1.2.840.10008.1.2.4.100"),
        ("application/octet-stream", ExplicitVRLittleEndian),  # frames are always multipart
    ]:
        with pytest.raises(NotAcceptable):
            _choose(accept, stored)


def test_frame_lists() -> None:
    assert parse_frame_numbers("3,1,3") == [3, 1, 3]
    for bad in ("", "0", "1,", "a", "1;2", "-1"):
        with pytest.raises(BadRequest):
            parse_frame_numbers(bad)
    check_frame_numbers([1, 2], 2)
    with pytest.raises(NotFound):
        check_frame_numbers([1, 3], 2)


def test_decoded_frames_are_little_endian_samples_in_the_requested_order() -> None:
    path = get_testdata_file("SC_rgb_rle_16bit_2frame.dcm")
    assert path is not None
    expected = pydicom.dcmread(path).pixel_array
    with open(path, "rb") as source:
        frames = list(decoded_frames(source, [2, 1]))
    assert frames == [expected[1].astype("<u2").tobytes(), expected[0].astype("<u2").tobytes()]


def test_compressed_frames_are_the_stored_fragments() -> None:
    path = get_testdata_file("SC_rgb_rle_2frame.dcm")
    assert path is not None
    stored = list(generate_frames(pydicom.dcmread(path).PixelData, number_of_frames=2))
    with open(path, "rb") as source:
        assert list(compressed_frames(source, [2])) == [stored[1]]
