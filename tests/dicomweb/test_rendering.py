"""Rendering: modality LUT, window (linear / sigmoid), VOI LUT, MONOCHROME1, functional groups, viewport, formats."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from imaging_cloud.dicomweb.rendering import (
    JPEG,
    PNG,
    RenderRequest,
    Viewport,
    parse_render_parameters,
    parse_window,
    render_frame,
)
from imaging_cloud.errors import BadRequest

#: Stored values 0, 1024, 1064, 2048 with intercept -1024 are -1024, 0, 40 and 1024 HU.
STORED = np.array([[0, 1024], [1064, 2048]], dtype=np.uint16)


def _object(pixels: np.ndarray, **attributes: object) -> io.BytesIO:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    frames = pixels if pixels.ndim == 3 else pixels[np.newaxis]
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    ds.PixelData = frames.astype("<u2").tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    buffer.seek(0)
    return buffer


def _render(source: io.BytesIO, request: RenderRequest | None = None) -> np.ndarray:
    source.seek(0)
    return np.asarray(Image.open(io.BytesIO(render_frame(source, request or RenderRequest(media_type=PNG)))))


def test_rescale_then_linear_window_follows_the_standard_formula() -> None:
    ct = _object(STORED, RescaleIntercept="-1024", RescaleSlope="1")
    shown = _render(ct, RenderRequest(media_type=PNG, window=parse_window("40,400,linear")))
    # PS3.3 C.11.2.1.2.1: ((x - (c - 0.5)) / (w - 1) + 0.5) * 255, clipped
    assert shown.tolist() == [[0, 102], [128, 255]]


def test_the_objects_own_window_is_the_default_and_monochrome1_is_inverted() -> None:
    ct = _object(STORED, RescaleIntercept="-1024", RescaleSlope="1", WindowCenter="40", WindowWidth="400")
    assert _render(ct).tolist() == [[0, 102], [128, 255]]
    inverted = _object(
        STORED,
        RescaleIntercept="-1024",
        RescaleSlope="1",
        WindowCenter="40",
        WindowWidth="400",
        PhotometricInterpretation="MONOCHROME1",
    )
    assert _render(inverted).tolist() == [[255, 153], [127, 0]]


def test_sigmoid_window_and_full_range_fallback() -> None:
    plain = _object(STORED)
    assert _render(plain).tolist() == [[0, 128], [132, 255]]  # min–max of the stored values
    sigmoid = _render(plain, RenderRequest(media_type=PNG, window=parse_window("1064,200,sigmoid")))
    assert sigmoid[1, 0] == 128  # the centre maps to mid-grey
    assert sigmoid[0, 0] < sigmoid[0, 1] < sigmoid[1, 0] < sigmoid[1, 1]


def test_voi_lut_sequence_is_applied() -> None:
    lut = Dataset()
    lut.LUTDescriptor = [4, 0, 16]
    lut.add_new(0x00283006, "US", [0, 50, 100, 200])  # LUT Data
    source = _object(np.array([[0, 1], [2, 3]], dtype=np.uint16), VOILUTSequence=[lut])
    assert _render(source).tolist() == [[0, 64], [128, 255]]


def test_per_frame_functional_groups_choose_each_frames_window() -> None:
    narrow, wide = Dataset(), Dataset()
    narrow.FrameVOILUTSequence = [Dataset()]
    narrow.FrameVOILUTSequence[0].WindowCenter, narrow.FrameVOILUTSequence[0].WindowWidth = 1064, 2
    wide.FrameVOILUTSequence = [Dataset()]
    wide.FrameVOILUTSequence[0].WindowCenter, wide.FrameVOILUTSequence[0].WindowWidth = 1024, 4096
    shared = Dataset()
    shared.PixelValueTransformationSequence = [Dataset()]
    shared.PixelValueTransformationSequence[0].RescaleIntercept = 0
    shared.PixelValueTransformationSequence[0].RescaleSlope = 1
    source = _object(
        np.stack([STORED, STORED]),
        SharedFunctionalGroupsSequence=[shared],
        PerFrameFunctionalGroupsSequence=[narrow, wide],
    )
    first = _render(source, RenderRequest(media_type=PNG, frame_index=0))
    second = _render(source, RenderRequest(media_type=PNG, frame_index=1))
    assert first.tolist() == [[0, 0], [255, 255]]
    assert second.tolist() == [[64, 128], [130, 191]]


def test_viewport_fits_and_crops_keeping_the_aspect_ratio() -> None:
    source = _object(np.arange(64, dtype=np.uint16).reshape(8, 8))
    assert _render(source, RenderRequest(media_type=PNG, viewport=Viewport(32, 16))).shape == (16, 16)
    cropped = _render(source, RenderRequest(media_type=PNG, viewport=Viewport(4, 4, (0, 0, 4, 2))))
    assert cropped.shape == (2, 4)
    with pytest.raises(BadRequest):
        _render(source, RenderRequest(media_type=PNG, viewport=Viewport(4, 4, (6, 6, 4, 4))))


def test_jpeg_is_encoded_at_the_requested_quality() -> None:
    source = _object(np.random.default_rng(1).integers(0, 4095, (64, 64), dtype=np.uint16))
    low = render_frame(source, RenderRequest(media_type=JPEG, quality=5))
    source.seek(0)
    high = render_frame(source, RenderRequest(media_type=JPEG, quality=95))
    assert Image.open(io.BytesIO(low)).format == "JPEG"
    assert len(low) < len(high)


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([("window", "40")], "invalid-window"),
        ([("window", "40,0")], "invalid-window"),
        ([("window", "40,400,cubic")], "invalid-window"),
        ([("window", "a,b")], "invalid-window"),
        ([("viewport", "0,10")], "invalid-viewport"),
        ([("viewport", "10,10,0,0,-5,5")], "invalid-viewport"),
        ([("viewport", "10.5,10")], "invalid-viewport"),
        ([("quality", "101")], "invalid-quality"),
        ([("annotation", "patient")], "unsupported-parameter"),
    ],
)
def test_invalid_rendering_parameters(items: list[tuple[str, str]], code: str) -> None:
    with pytest.raises(BadRequest) as error:
        parse_render_parameters(items, JPEG)
    assert error.value.code == code


def test_parameters_parse_into_a_request() -> None:
    request = parse_render_parameters(
        [("window", "40,400,linear-exact"), ("viewport", "10,20"), ("quality", "70")], PNG
    )
    assert (request.window, request.viewport, request.quality, request.media_type) == (
        parse_window("40,400,linear-exact"),
        Viewport(10, 20),
        70,
        PNG,
    )
