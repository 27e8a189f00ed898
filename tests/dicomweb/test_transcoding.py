"""Transfer syntaxes: what can be served, which one Accept chooses, and lossless conversion to little endian."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit, RLELossless

from imaging_cloud.dicomweb.negotiation import parse_accept
from imaging_cloud.dicomweb.transcoding import can_serve, choose_transfer_syntax, transcode
from imaging_cloud.errors import NotAcceptable

MPEG2 = "1.2.840.10008.1.2.4.100"  # no decoder here: served only as stored
DICOM = 'multipart/related; type="application/dicom"'


@pytest.mark.parametrize(
    "name",
    [
        "MR_small_implicit.dcm",
        "MR_small_bigendian.dcm",
        "SC_rgb_small_odd_big_endian.dcm",
        "liver_expb_1frame.dcm",
        "image_dfl.dcm",
        "MR_small_RLE.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_jp2klossless.dcm",
        "SC_rgb_rle_2frame.dcm",
    ],
)
@pytest.mark.parametrize("target", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_conversion_to_little_endian_keeps_every_pixel(name: str, target: str) -> None:
    path = get_testdata_file(name)
    assert path is not None
    original = pydicom.dcmread(path)
    with open(path, "rb") as source, transcode(source, target) as converted:
        result = pydicom.dcmread(converted)
    assert result.file_meta.TransferSyntaxUID == target
    assert (result.pixel_array == original.pixel_array).all()
    assert result.SOPInstanceUID == original.SOPInstanceUID


def test_what_can_be_served() -> None:
    assert can_serve(RLELossless, "*")
    assert can_serve(RLELossless, RLELossless)
    assert can_serve(RLELossless, ExplicitVRLittleEndian)
    assert not can_serve(ExplicitVRLittleEndian, JPEGBaseline8Bit)  # no lossy re-encoding
    assert not can_serve(MPEG2, ExplicitVRLittleEndian)
    assert can_serve(MPEG2, "*")


def test_accept_chooses_the_transfer_syntax_for_all_instances() -> None:
    mixed = [ExplicitVRLittleEndian, RLELossless]
    assert choose_transfer_syntax(parse_accept([]), mixed) == ExplicitVRLittleEndian
    assert choose_transfer_syntax(parse_accept([DICOM]), mixed) == ExplicitVRLittleEndian
    assert choose_transfer_syntax(parse_accept(["multipart/related"]), mixed) == ExplicitVRLittleEndian
    assert choose_transfer_syntax(parse_accept([f"{DICOM}; transfer-syntax=*"]), mixed) == "*"
    preferring_rle = f"{DICOM}; transfer-syntax={RLELossless}, {DICOM}; transfer-syntax=*; q=0.9"
    assert choose_transfer_syntax(parse_accept([preferring_rle]), mixed) == "*"  # RLE cannot hold both
    assert choose_transfer_syntax(parse_accept([preferring_rle]), [RLELossless]) == RLELossless
    for unsatisfiable in (f"{DICOM}; transfer-syntax={JPEGBaseline8Bit}", "application/dicom+json", "image/*"):
        with pytest.raises(NotAcceptable):
            choose_transfer_syntax(parse_accept([unsatisfiable]), mixed)
    with pytest.raises(NotAcceptable):
        choose_transfer_syntax(parse_accept([DICOM]), [MPEG2])
