"""Clean Pixel Data: find burned-in text with OCR and black it out in every frame.

Steps for one object (that :func:`deidentify.pixel_risk.pixel_check_reason` says must be checked):

1. ``max_ocr_frames`` frames, evenly spaced from the first to the last, are rendered to 8 bits and searched
   for text; encoded pixel data (compressed, big endian, ``YBR_FULL_422``) is decoded for this one searched
   frame at a time (pydicom with the pylibjpeg plugins). The searched frames stand for the others because
   consoles draw demographics as a static overlay.
2. No text found: the pixel data is left exactly as it was, encoding included.
3. Text found: the union of the boxes (grown by the policy's margin) is blacked out in **every** frame.
   Native little-endian data is cleaned where it lies: its transfer syntax does not change and every byte
   outside the boxes stays as it was. Encoded data is first decoded whole into one little-endian buffer and
   written as Explicit VR Little Endian, ``YBR_*`` colour as ``RGB`` (``PhotometricInterpretation`` updated);
   outside the boxes the samples are exactly what the decoder produced.
4. Black is the value that displays darkest: the smallest sample present for ``MONOCHROME2``, the largest for
   ``MONOCHROME1``, 0 for ``RGB``, (0, mid, mid) for ``YBR_FULL``.

When the object cannot be checked — photometric interpretation other than the above (``PALETTE COLOR``…),
float or 1-bit pixel data, a transfer syntax without an installed decoder (MPEG/HEVC video…), pixel data
shorter than its attributes say, an OCR failure — :class:`RejectedInstance` ``pixel-check-impossible`` is raised:
the object is refused, never passed unchecked.

Memory: the compressed value is released before the decoded buffer is turned into the element's bytes, so a
large multi-frame object peaks at about twice its decoded size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import Decoder, get_decoder
from pydicom.pixels.processing import convert_color_space
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian

from deidentify.errors import DeidentificationError, RejectedInstance
from deidentify.ocr import Box, OcrUnavailable, TextDetector
from deidentify.pixel_risk import BURNED_IN_ANNOTATION, PIXEL_DATA, PixelPolicy

logger = logging.getLogger(__name__)

PIXEL_CHECK_IMPOSSIBLE = "pixel-check-impossible"
MONOCHROME = frozenset({"MONOCHROME1", "MONOCHROME2"})
#: photometric interpretations cleaned where they lie (after decoding, if the data was compressed)
CLEANABLE = MONOCHROME | {"RGB", "YBR_FULL"}
#: photometric interpretations the decoder turns into RGB first
DECODED_TO_RGB = frozenset({"YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420"})
EXTENDED_OFFSET_TABLE = (0x7FE00001, 0x7FE00002)
PLANAR_CONFIGURATION = 0x00280006
#: decoder option: colour comes out as RGB (pydicom's own types declare keyword options oddly)
_AS_RGB: dict[str, Any] = {"as_rgb": True}
#: percentiles that set the 8-bit rendering of >8-bit grey images (robust to a few outlier samples)
RENDER_PERCENTILES = (0.1, 99.9)


@dataclass(frozen=True)
class PixelCleaning:
    """What Clean Pixel Data did to one object: counts and syntaxes only, never the text found."""

    reason: str
    frames: int
    searched_frames: int
    regions: int
    transfer_syntax: str
    decoded_from: str | None = None
    photometric_from: str | None = None


@dataclass(frozen=True)
class _Geometry:
    rows: int
    columns: int
    samples: int
    frames: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    planar: int
    photometric: str

    @property
    def dtype(self) -> np.dtype[Any]:
        kind = "i" if self.signed else "u"
        return np.dtype(f"<{kind}{self.bits_allocated // 8}")

    @property
    def count(self) -> int:
        return self.frames * self.rows * self.columns * self.samples


def _refuse(detail: str) -> RejectedInstance:
    return RejectedInstance(PIXEL_CHECK_IMPOSSIBLE, detail)


def _int(dataset: Dataset, keyword: str, default: int | None = None) -> int:
    value = dataset.get(keyword)
    if value is None or value == "":
        if default is None:
            raise _refuse(f"{keyword} is missing")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise _refuse(f"{keyword} is not a number") from None


def _geometry(dataset: Dataset) -> _Geometry:
    photometric = str(dataset.get("PhotometricInterpretation", "") or "").strip().upper()
    geometry = _Geometry(
        rows=_int(dataset, "Rows"),
        columns=_int(dataset, "Columns"),
        samples=_int(dataset, "SamplesPerPixel", 1),
        frames=_int(dataset, "NumberOfFrames", 1),
        bits_allocated=_int(dataset, "BitsAllocated"),
        bits_stored=_int(dataset, "BitsStored", _int(dataset, "BitsAllocated")),
        signed=_int(dataset, "PixelRepresentation", 0) == 1,
        planar=_int(dataset, "PlanarConfiguration", 0),
        photometric=photometric,
    )
    if min(geometry.rows, geometry.columns, geometry.samples, geometry.frames) < 1:
        raise _refuse("image has no rows, columns, samples or frames")
    return geometry


def _check_cleanable(geometry: _Geometry) -> None:
    if geometry.photometric not in CLEANABLE:
        shown = geometry.photometric if geometry.photometric in DECODED_TO_RGB | {"PALETTE COLOR"} else "other"
        raise _refuse(f"photometric interpretation {shown} cannot be checked")
    if geometry.bits_allocated not in (8, 16, 32):
        raise _refuse(f"{geometry.bits_allocated}-bit pixel data cannot be checked")
    expected_samples = 1 if geometry.photometric in MONOCHROME else 3
    if geometry.samples != expected_samples:
        raise _refuse("samples per pixel do not match the photometric interpretation")
    if geometry.photometric == "YBR_FULL" and geometry.bits_allocated != 8:
        raise _refuse("YBR_FULL pixel data of more than 8 bits cannot be checked")


# -- decoding ---------------------------------------------------------------------------------------------------


def _decoder(transfer_syntax: UID) -> Decoder:
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        raise _refuse("no decoder exists for the transfer syntax") from None
    if not decoder.is_available:
        raise _refuse("the decoder for the transfer syntax is not installed")
    return decoder


def _decoded_frames(
    dataset: Dataset, transfer_syntax: UID, indices: list[int]
) -> Iterator[tuple[NDArray[Any], _Geometry]]:
    """Frames ``indices`` decoded one at a time (colour as RGB), as (rows, columns, samples) with their geometry."""
    decoder = _decoder(transfer_syntax)
    for index in indices:
        try:
            array, meta = decoder.as_array(dataset, index=index, **_AS_RGB)
        except DeidentificationError:
            raise
        except Exception as exc:  # corrupt or truncated codestreams raise many types
            raise _refuse(f"pixel data cannot be decoded ({type(exc).__name__})") from None
        photometric = meta["photometric_interpretation"]
        geometry = _Geometry(
            rows=int(meta["rows"]),
            columns=int(meta["columns"]),
            samples=int(meta["samples_per_pixel"]),
            frames=int(meta["number_of_frames"]),
            bits_allocated=int(meta["bits_allocated"]),
            bits_stored=int(meta["bits_stored"]),
            signed=int(meta["pixel_representation"]) == 1,
            planar=0,
            photometric=str(getattr(photometric, "value", photometric)),
        )
        _check_cleanable(geometry)
        yield array.reshape(geometry.rows, geometry.columns, geometry.samples), geometry


def _decode_to_native(dataset: Dataset, transfer_syntax: UID) -> None:
    """Decode every frame into one little-endian buffer and describe it in the dataset (RGB for colour)."""
    decoder = _decoder(transfer_syntax)
    buffer = bytearray()
    frames = 0
    meta: dict[str, Any] = {}
    try:
        for array, frame_meta in decoder.iter_array(dataset, as_rgb=True):
            meta = frame_meta
            buffer += array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
            frames += 1
    except DeidentificationError:
        raise
    except Exception as exc:  # corrupt or truncated codestreams raise many types
        raise _refuse(f"pixel data cannot be decoded ({type(exc).__name__})") from None
    if not frames:
        raise _refuse("pixel data holds no frames")
    photometric = meta["photometric_interpretation"]
    dataset[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB", b"")  # release the compressed value first
    for tag in EXTENDED_OFFSET_TABLE:
        if tag in dataset:
            del dataset[tag]
    if len(buffer) % 2:
        buffer.append(0)
    bits_allocated = int(meta["bits_allocated"])
    dataset[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB" if bits_allocated <= 8 else "OW", bytes(buffer))
    del buffer
    dataset.PhotometricInterpretation = str(getattr(photometric, "value", photometric))
    if int(meta["samples_per_pixel"]) > 1:
        dataset.PlanarConfiguration = int(meta["planar_configuration"])
    elif PLANAR_CONFIGURATION in dataset:
        del dataset[PLANAR_CONFIGURATION]
    if "NumberOfFrames" in dataset or frames > 1:
        dataset.NumberOfFrames = frames


# -- rendering for OCR ----------------------------------------------------------------------------------------


def _frame(view: NDArray[Any], index: int, geometry: _Geometry) -> NDArray[Any]:
    """Frame ``index`` as (rows, columns, samples), whatever the planar configuration."""
    frame = view[index]
    return np.moveaxis(frame, 0, -1) if geometry.planar == 1 and geometry.samples > 1 else frame


def _render(frame: NDArray[Any], geometry: _Geometry) -> NDArray[np.uint8]:
    """An 8-bit (rows, columns, 3) picture of one frame, as a viewer would show it, for text detection."""
    if geometry.photometric in MONOCHROME:
        plane = frame[..., 0]
        if plane.dtype == np.uint8:
            grey = plane
        else:
            sample = plane[::4, ::4]
            low, high = (float(v) for v in np.percentile(sample, RENDER_PERCENTILES))
            if high <= low:
                low, high = float(plane.min()), float(plane.max())
            scale = 255.0 / (high - low) if high > low else 0.0
            grey = np.clip((plane.astype(np.float32) - low) * scale, 0, 255).astype(np.uint8)
        if geometry.photometric == "MONOCHROME1":
            grey = 255 - grey
        return np.repeat(grey[..., None], 3, axis=2)
    if geometry.photometric == "YBR_FULL":
        rgb: NDArray[np.uint8] = convert_color_space(np.ascontiguousarray(frame), "YBR_FULL", "RGB")
        return rgb
    if frame.dtype == np.uint8:
        contiguous: NDArray[np.uint8] = np.ascontiguousarray(frame, dtype=np.uint8)
        return contiguous
    top = float(2 ** min(geometry.bits_stored, geometry.bits_allocated) - 1)
    scaled: NDArray[np.uint8] = np.clip(frame.astype(np.float32) * (255.0 / top), 0, 255).astype(np.uint8)
    return scaled


def searched_frames(frames: int, limit: int) -> list[int]:
    """At most ``limit`` frame indices, evenly spaced, always the first and (when limit > 1) the last."""
    if frames <= limit:
        return list(range(frames))
    if limit == 1:
        return [0]
    return sorted({round(i * (frames - 1) / (limit - 1)) for i in range(limit)})


# -- redaction ------------------------------------------------------------------------------------------------


def _fill(view: NDArray[Any], geometry: _Geometry) -> NDArray[Any]:
    """Per-sample values that display as black."""
    if geometry.photometric == "MONOCHROME2":
        return np.array([view.min()], dtype=view.dtype)
    if geometry.photometric == "MONOCHROME1":
        return np.array([view.max()], dtype=view.dtype)
    if geometry.photometric == "YBR_FULL":
        middle = 1 << (geometry.bits_stored - 1)
        return np.array([0, middle, middle], dtype=view.dtype)
    return np.zeros(geometry.samples, dtype=view.dtype)


def _black_out(view: NDArray[Any], boxes: list[Box], geometry: _Geometry) -> None:
    fill = _fill(view, geometry)
    for box in boxes:
        if geometry.planar == 1 and geometry.samples > 1:
            view[:, :, box.y0 : box.y1, box.x0 : box.x1] = fill[None, :, None, None]
        else:
            view[:, box.y0 : box.y1, box.x0 : box.x1, :] = fill


def _shape(geometry: _Geometry) -> tuple[int, int, int, int]:
    if geometry.planar == 1 and geometry.samples > 1:
        return (geometry.frames, geometry.samples, geometry.rows, geometry.columns)
    return (geometry.frames, geometry.rows, geometry.columns, geometry.samples)


def _detect(detector: TextDetector, image: NDArray[np.uint8], geometry: _Geometry, margin: int) -> set[Box]:
    try:
        found = detector.detect(image)
    except OcrUnavailable as exc:
        raise _refuse(f"OCR engine unavailable: {exc}") from None
    except Exception as exc:  # any engine failure means the frame was not checked
        logger.info("text detection failed (%s)", type(exc).__name__)
        raise _refuse(f"text detection failed ({type(exc).__name__})") from None
    boxes = set()
    for box in found:
        grown = box.grown(margin, geometry.columns, geometry.rows)
        if grown.x1 > grown.x0 and grown.y1 > grown.y0:
            boxes.add(grown)
    return boxes


def _native_view(dataset: Dataset, geometry: _Geometry) -> NDArray[Any]:
    """A read-only array over the native pixel data, in its stored layout."""
    try:
        value = dataset.PixelData
    except Exception as exc:  # a deferred value that cannot be read back
        raise _refuse(f"pixel data cannot be read ({type(exc).__name__})") from None
    if not isinstance(value, bytes) or len(value) < geometry.count * geometry.dtype.itemsize:
        raise _refuse("pixel data is shorter than its rows, columns and frames")
    return np.frombuffer(value, dtype=geometry.dtype, count=geometry.count).reshape(_shape(geometry))


def _redact_native(dataset: Dataset, geometry: _Geometry, boxes: list[Box]) -> None:
    """Black out ``boxes`` in every frame of native pixel data; every other byte is kept."""
    element = dataset[PIXEL_DATA]
    vr = element.VR if element.VR in ("OB", "OW") else ("OB" if geometry.bits_allocated <= 8 else "OW")
    _native_view(dataset, geometry)  # checks the length
    buffer = bytearray(dataset.PixelData)
    dataset[PIXEL_DATA] = DataElement(PIXEL_DATA, "OB", b"")  # release the old value first
    writable = np.frombuffer(buffer, dtype=geometry.dtype, count=geometry.count).reshape(_shape(geometry))
    _black_out(writable, boxes, geometry)
    del writable
    dataset[PIXEL_DATA] = DataElement(PIXEL_DATA, vr, bytes(buffer))


def clean_pixel_data(
    dataset: Dataset, *, transfer_syntax: str, policy: PixelPolicy, detector: TextDetector, reason: str
) -> PixelCleaning:
    """Search ``dataset``'s frames for text and black it out in place; raise ``pixel-check-impossible``.

    Encoded pixel data (compressed, big endian, ``YBR_FULL_422``) is decoded frame by frame for the search
    and left as it is when no text is found; it is decoded whole and rewritten only to black text out.
    """
    if PIXEL_DATA not in dataset:
        raise _refuse("float pixel data cannot be checked")
    syntax = UID(transfer_syntax)
    geometry = _geometry(dataset)
    encoded = syntax.is_compressed or syntax == ExplicitVRBigEndian or geometry.photometric in DECODED_TO_RGB
    if not (encoded and geometry.photometric in DECODED_TO_RGB):
        _check_cleanable(geometry)  # refuses with the reason before any decoding work
    indices = searched_frames(geometry.frames, policy.max_ocr_frames)
    boxes: set[Box] = set()
    if encoded:
        for frame, frame_geometry in _decoded_frames(dataset, syntax, indices):
            boxes |= _detect(detector, _render(frame, frame_geometry), frame_geometry, policy.margin)
    else:
        view = _native_view(dataset, geometry)
        for index in indices:
            boxes |= _detect(detector, _render(_frame(view, index, geometry), geometry), geometry, policy.margin)
        del view

    decoded_from: str | None = None
    photometric_from: str | None = None
    if boxes and encoded:
        _decode_to_native(dataset, syntax)
        decoded_from, syntax = str(syntax), ExplicitVRLittleEndian
        native = _geometry(dataset)
        _check_cleanable(native)
        if native.photometric != geometry.photometric:
            photometric_from = geometry.photometric
        geometry = native
    if boxes:
        _redact_native(dataset, geometry, sorted(boxes))
    dataset[BURNED_IN_ANNOTATION] = DataElement(BURNED_IN_ANNOTATION, "CS", "NO")
    return PixelCleaning(
        reason=reason,
        frames=geometry.frames,
        searched_frames=len(indices),
        regions=len(boxes),
        transfer_syntax=str(syntax),
        decoded_from=decoded_from,
        photometric_from=photometric_from,
    )
