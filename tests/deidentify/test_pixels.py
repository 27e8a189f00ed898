"""Clean Pixel Data end to end: burned-in Chinese text found by the real OCR engine and blacked out.

The images are synthetic (noise, a bright body, a per-frame moving structure) with the person's Chinese name,
national ID, pinyin name and the study date drawn with a CJK font. Each test proves the text was legible
before (OCR reads it) and is gone after (OCR of the output finds none of it), and that every sample outside the
regions the detector reported (plus the policy margin) is bit-identical.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import MPEG4HP41, UID, ExplicitVRLittleEndian, RLELossless, generate_uid

from deidentify import (
    CLINICAL_SHARING,
    Box,
    Keys,
    RapidOcrDetector,
    RejectedInstance,
    Subject,
    deidentify,
    make_pseudonym,
    verify,
)
from tests.deidentify.corpus import WANG, Person, serialize

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
CLEAN_PIXEL_DATA_CODE = "113101"
LINES = (WANG.chinese_name, WANG.national_id, WANG.pinyin.replace("^", " "), "2024-03-15")
MARGIN = CLINICAL_SHARING.clean_pixel_data.margin if CLINICAL_SHARING.clean_pixel_data else 0


@pytest.fixture(scope="module")
def engine() -> RapidOcrDetector:
    """One engine for the module (loading it costs ~0.2 s)."""
    return RapidOcrDetector()


@pytest.fixture(scope="module")
def font() -> ImageFont.FreeTypeFont:
    if not FONT.exists():
        pytest.skip("CJK font fonts-wqy-microhei is not installed")
    return ImageFont.truetype(str(FONT), 17)


class RecordingDetector:
    """The real detector, remembering what it reported so the test knows which samples may change."""

    def __init__(self, inner: RapidOcrDetector) -> None:
        self.inner = inner
        self.calls = 0
        self.boxes: list[Box] = []

    def detect(self, image: NDArray[np.uint8]) -> list[Box]:
        self.calls += 1
        found = self.inner.detect(image)
        self.boxes.extend(found)
        return found


class BrokenDetector:
    """An engine that fails (e.g. out of memory inside ONNX Runtime)."""

    def detect(self, image: NDArray[np.uint8]) -> list[Box]:
        raise RuntimeError("inference failed")


def subject_for(person: Person) -> Subject:
    pseudonym = make_pseudonym(person.national_id, b"pseudonym-key-0123456789")
    return Subject(pseudonym=pseudonym, known=person.known(), person_ref=person.national_id)


def keys() -> Keys:
    return Keys(uid_key=b"pixel-test-uid-key-0123456789")


def draw_text(plane: NDArray[np.uint8], font: ImageFont.FreeTypeFont, value: int, origin: tuple[int, int]) -> None:
    """Burn the person's identifiers into one 8-bit plane, one per line, as a console would."""
    picture = Image.fromarray(plane)
    pen = ImageDraw.Draw(picture)
    for index, line in enumerate(LINES):
        pen.text((origin[0], origin[1] + index * 24), line, fill=value, font=font)
    plane[...] = np.asarray(picture)


def background(rng: np.random.Generator, rows: int, columns: int, frame: int) -> NDArray[np.uint8]:
    yy, xx = np.mgrid[0:rows, 0:columns]
    body = (yy - rows * 0.6) ** 2 + (xx - columns / 2) ** 2 < (rows * 0.35) ** 2
    moving = (yy - rows * 0.6) ** 2 + (xx - columns / 2 - 3 * frame) ** 2 < (rows * 0.08) ** 2
    image = rng.normal(35, 12, (rows, columns)) + np.where(body, 70, 0) + np.where(moving, 60, 0)
    return np.clip(image, 0, 255).astype(np.uint8)


def header(sop_class: str, modality: str, transfer_syntax: UID = ExplicitVRLittleEndian) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = modality
    ds.PatientName = WANG.pn
    ds.PatientID = WANG.mrn
    ds.StudyDate = "20240315"
    ds.SpecificCharacterSet = "ISO_IR 192"
    return ds


def reparse(ds: Dataset) -> Dataset:
    return pydicom.dcmread(io.BytesIO(serialize(ds)))


def ultrasound(font: ImageFont.FreeTypeFont, frames: int = 4, rows: int = 240, columns: int = 320) -> Dataset:
    """Multi-frame 8-bit US with the same demographics burned into every frame (BurnedInAnnotation absent)."""
    rng = np.random.default_rng(4)
    stack = np.stack([background(rng, rows, columns, f) for f in range(frames)])
    for plane in stack:
        draw_text(plane, font, 235, (8, 6))
    ds = header(US_MULTIFRAME, "US")
    ds.Rows, ds.Columns, ds.NumberOfFrames = rows, columns, frames
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = stack.tobytes()
    return reparse(ds)


def secondary_capture_rle(font: ImageFont.FreeTypeFont, rows: int = 200, columns: int = 300) -> Dataset:
    """A colour screenshot (SC, Modality OT) with coloured text, RLE compressed."""
    rng = np.random.default_rng(5)
    grey = background(rng, rows, columns, 0)
    rgb = np.stack([grey, grey // 2, grey], axis=-1)
    red = rgb[..., 0].copy()
    draw_text(red, font, 250, (10, 90))
    rgb[..., 0] = red
    green = rgb[..., 1].copy()
    draw_text(green, font, 250, (10, 90))
    rgb[..., 1] = green
    ds = header(SECONDARY_CAPTURE, "OT")
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = rgb.tobytes()
    ds.compress(RLELossless, generate_instance_uid=False)
    return reparse(ds)


def ct(font: ImageFont.FreeTypeFont, burned_in: str) -> Dataset:
    """A signed 16-bit CT slice with text burned in at the highest value."""
    rng = np.random.default_rng(6)
    plane = background(rng, 256, 256, 0)
    draw_text(plane, font, 255, (6, 4))
    hounsfield = plane.astype(np.int16) * 8 - 1024
    ds = header(CT_IMAGE, "CT")
    ds.Rows, ds.Columns = 256, 256
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.BurnedInAnnotation = burned_in
    ds.PixelData = hounsfield.tobytes()
    return reparse(ds)


def to_8bit(plane: NDArray[np.generic]) -> NDArray[np.uint8]:
    values = plane.astype(np.float64)
    low, high = values.min(), values.max()
    grey = ((values - low) * (255.0 / (high - low) if high > low else 0.0)).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2)


def frames_of(ds: Dataset) -> Iterator[NDArray[np.uint8]]:
    """Every frame as an 8-bit RGB picture (what a viewer shows)."""
    pixels = ds.pixel_array
    stack = pixels if int(ds.get("NumberOfFrames", 1) or 1) > 1 else pixels[None, ...]
    for frame in stack:
        yield frame if frame.ndim == 3 else to_8bit(frame)


def read_text(engine: RapidOcrDetector, ds: Dataset, frames: tuple[int, ...] = (0,)) -> list[str]:
    """What OCR reads in the given frames, spaces removed and lower-cased."""
    pictures = list(frames_of(ds))
    return ["".join(line.text for line in engine.read(pictures[i])).replace(" ", "").lower() for i in frames]


def assert_legible(text: str) -> None:
    """The planted text is there to be found: the test could fail."""
    for form in (WANG.chinese_name, WANG.national_id, "wangxiaodong", "2024-03-15"):
        assert form in text


def leaked(text: str) -> list[str]:
    """Planted identifiers (or recognisable pieces of them) present in OCR output."""
    forms = [WANG.chinese_name, WANG.given, "wangxiaodong", "xiaodong", "2024-03-15"]
    forms += [WANG.national_id[i : i + 6] for i in range(0, len(WANG.national_id) - 5)]
    return [form for form in forms if form.lower() in text]


def redaction_mask(boxes: list[Box], rows: int, columns: int) -> NDArray[np.bool_]:
    mask = np.zeros((rows, columns), dtype=bool)
    for box in boxes:
        grown = box.grown(MARGIN, columns, rows)
        mask[grown.y0 : grown.y1, grown.x0 : grown.x1] = True
    return mask


def method_codes(ds: Dataset) -> set[str]:
    return {str(item.CodeValue) for item in ds.DeidentificationMethodCodeSequence}


def test_ultrasound_text_is_blacked_out_in_every_frame_and_every_other_sample_is_kept(
    engine: RapidOcrDetector, font: ImageFont.FreeTypeFont
) -> None:
    ds = ultrasound(font)
    before = ds.pixel_array.copy()
    assert_legible(read_text(engine, ds)[0])
    detector = RecordingDetector(engine)

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=detector)

    out = reparse(result.dataset)
    after = out.pixel_array
    assert after.shape == before.shape == (4, 240, 320)
    assert (out.Rows, out.Columns, int(out.NumberOfFrames)) == (240, 320, 4)
    assert out.SOPClassUID == US_MULTIFRAME and out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert detector.calls == 3  # first, middle and last of four frames
    mask = redaction_mask(detector.boxes, 240, 320)
    assert mask.any()
    assert np.array_equal(after[:, ~mask], before[:, ~mask])
    assert (after[:, mask] == before.min()).all()
    not_searched, searched = read_text(engine, out, frames=(1, 3))
    assert leaked(not_searched) == [] and leaked(searched) == []
    assert out.BurnedInAnnotation == "NO"
    assert CLEAN_PIXEL_DATA_CODE in method_codes(out)
    assert "clean_pixel_data" in result.record.options_applied
    [pixel_action] = [a for a in result.record.actions if a.path == "(7FE0,0010)"]
    assert pixel_action.action == "C" and "4 frames" in pixel_action.reason
    assert not any(form in repr(result.record.as_dict()) for form in LINES)
    assert verify(serialize(out), result.known) == []


def test_compressed_colour_screenshot_is_decoded_redacted_and_written_uncompressed(
    engine: RapidOcrDetector, font: ImageFont.FreeTypeFont
) -> None:
    ds = secondary_capture_rle(font)
    assert ds.file_meta.TransferSyntaxUID == RLELossless
    before = ds.pixel_array.copy()
    assert_legible(read_text(engine, ds)[0])
    detector = RecordingDetector(engine)

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=detector)

    out = reparse(result.dataset)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert (out.PhotometricInterpretation, out.SamplesPerPixel, out.Rows, out.Columns) == ("RGB", 3, 200, 300)
    after = out.pixel_array
    mask = redaction_mask(detector.boxes, 200, 300)
    assert mask.any()
    assert np.array_equal(after[~mask], before[~mask])
    assert (after[mask] == 0).all()
    assert leaked(read_text(engine, out)[0]) == []
    paths = {a.path: a.reason for a in result.record.actions}
    assert "decoded to explicit VR little endian" in paths["(0002,0010)"]


def test_real_ultrasound_cine_in_ybr_jpeg_is_redacted_and_written_as_the_rgb_it_decodes_to(
    engine: RapidOcrDetector,
) -> None:
    ds = pydicom.dcmread(str(get_testdata_file("examples_ybr_color.dcm")))  # 30-frame US, console text burned in
    assert (ds.PhotometricInterpretation, int(ds.NumberOfFrames)) == ("YBR_FULL_422", 30)
    decoded_rgb = ds.pixel_array.copy()  # pydicom converts YCbCr to RGB by default
    legible = {"pla", "p21", "paget3"}
    assert legible <= {line.text.replace(" ", "").lower() for line in engine.read(decoded_rgb[0])}
    detector = RecordingDetector(engine)

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=detector)

    out = reparse(result.dataset)
    assert (out.PhotometricInterpretation, int(out.NumberOfFrames)) == ("RGB", 30)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    after = out.pixel_array
    mask = redaction_mask(detector.boxes, int(out.Rows), int(out.Columns))
    assert np.array_equal(after[:, ~mask], decoded_rgb[:, ~mask])
    assert (after[:, mask] == 0).all()
    assert not legible & {line.text.replace(" ", "").lower() for line in engine.read(after[29])}
    assert {a.path for a in result.record.actions} >= {"(0028,0004)", "(0002,0010)"}


def test_compressed_image_without_text_keeps_its_encoded_pixel_data(engine: RapidOcrDetector) -> None:
    ds = pydicom.dcmread(str(get_testdata_file("SC_rgb_jpeg_dcmtk.dcm")))  # colour bars, no text
    encoded = ds.PixelData
    transfer_syntax = ds.file_meta.TransferSyntaxUID

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=engine)

    out = reparse(result.dataset)
    assert out.PixelData == encoded
    assert (out.file_meta.TransferSyntaxUID, out.PhotometricInterpretation) == (transfer_syntax, "YBR_FULL")
    assert out.BurnedInAnnotation == "NO"
    assert CLEAN_PIXEL_DATA_CODE in method_codes(out)


@pytest.mark.parametrize(
    ("photometric", "planar", "black"),
    [("RGB", 1, (0, 0, 0)), ("YBR_FULL", 0, (0, 128, 128)), ("MONOCHROME1", 0, None)],
)
def test_native_layouts_are_cleaned_in_place_with_their_own_black(
    engine: RapidOcrDetector,
    font: ImageFont.FreeTypeFont,
    photometric: str,
    planar: int,
    black: tuple[int, ...] | None,
) -> None:
    """RGB planar 1 (R plane, G plane, B plane), YBR_FULL, and MONOCHROME1 (black is its largest value)."""
    rows, columns = 160, 320
    plane = background(np.random.default_rng(7), rows, columns, 0)
    draw_text(plane, font, 250, (6, 4))
    if photometric == "MONOCHROME1":
        stored = (255 - plane)[..., None]  # text shows dark on white: lower values display brighter
    else:
        rgb = np.stack([plane, plane, plane], axis=-1)
        stored = rgb if photometric == "RGB" else convert_color_space(rgb, "RGB", "YBR_FULL")
    layout = np.moveaxis(stored, -1, 0) if planar else stored
    ds = header(SECONDARY_CAPTURE, "OT")
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, columns, stored.shape[-1]
    ds.PhotometricInterpretation = photometric
    if stored.shape[-1] == 3:
        ds.PlanarConfiguration = planar
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(layout).tobytes()
    ds = reparse(ds)
    detector = RecordingDetector(engine)

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=detector)

    out = reparse(result.dataset)
    assert out.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian and out.PhotometricInterpretation == photometric
    after = np.frombuffer(out.PixelData, dtype=np.uint8).reshape(layout.shape)
    after = np.moveaxis(after, 0, -1) if planar else after
    mask = redaction_mask(detector.boxes, rows, columns)
    assert mask.any()
    assert np.array_equal(after[~mask], stored[~mask])
    expected = np.array(black if black is not None else (stored.max(),), dtype=np.uint8)
    assert (after[mask] == expected).all()
    assert leaked(read_text(engine, out)[0]) == []


def test_low_risk_ct_is_not_searched_and_its_pixels_are_untouched(
    engine: RapidOcrDetector, font: ImageFont.FreeTypeFont
) -> None:
    ds = ct(font, burned_in="NO")
    original = ds.PixelData
    detector = RecordingDetector(engine)

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=detector)

    assert detector.calls == 0
    assert result.dataset.PixelData == original
    assert result.dataset.BurnedInAnnotation == "NO"
    assert CLEAN_PIXEL_DATA_CODE not in method_codes(result.dataset)
    assert "clean_pixel_data" not in result.record.options_applied
    assert not any(a.path == "(7FE0,0010)" for a in result.record.actions)


def test_ct_flagged_with_burned_in_annotation_is_searched_and_cleaned(
    engine: RapidOcrDetector, font: ImageFont.FreeTypeFont
) -> None:
    ds = ct(font, burned_in="YES")
    before = ds.pixel_array.copy()
    assert_legible(read_text(engine, ds)[0])
    detector = RecordingDetector(engine)

    result = deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=detector)

    out = reparse(result.dataset)
    after = out.pixel_array
    mask = redaction_mask(detector.boxes, 256, 256)
    assert np.array_equal(after[~mask], before[~mask])
    assert (after[mask] == before.min()).all()
    assert leaked(read_text(engine, out)[0]) == []
    assert out.BurnedInAnnotation == "NO"


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"PhotometricInterpretation": "PALETTE COLOR"}, "PALETTE COLOR"),
        ({"BitsAllocated": 1, "BitsStored": 1, "HighBit": 0}, "1-bit"),
        ({"Rows": 480}, "shorter"),
    ],
)
def test_object_that_cannot_be_checked_is_refused(
    engine: RapidOcrDetector, font: ImageFont.FreeTypeFont, change: dict[str, object], detail: str
) -> None:
    ds = ultrasound(font, frames=1, rows=64, columns=64)
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    with pytest.raises(RejectedInstance) as caught:
        deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=engine)
    assert caught.value.code == "pixel-check-impossible"
    assert detail in caught.value.detail
    assert WANG.chinese_name not in str(caught.value) and WANG.national_id not in str(caught.value)


def test_video_without_a_decoder_is_refused() -> None:
    ds = header(US_MULTIFRAME, "US", transfer_syntax=MPEG4HP41)
    ds.Rows, ds.Columns, ds.NumberOfFrames = 64, 64, 2
    ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "YBR_PARTIAL_420", 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])
    ds["PixelData"].VR = "OB"
    with pytest.raises(RejectedInstance) as caught:
        deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=BrokenDetector())
    assert caught.value.code == "pixel-check-impossible"
    assert "decoder" in caught.value.detail


def test_ocr_failure_refuses_the_object(font: ImageFont.FreeTypeFont) -> None:
    ds = ultrasound(font, frames=1, rows=64, columns=64)
    with pytest.raises(RejectedInstance) as caught:
        deidentify(ds, profile=CLINICAL_SHARING, keys=keys(), subject=subject_for(WANG), text_detector=BrokenDetector())
    assert caught.value.code == "pixel-check-impossible"
    assert "text detection failed" in caught.value.detail
