"""Rendered images (PS3.18 §8.3.5 ``/rendered`` and ``/thumbnail``): one frame to JPEG or PNG, as a viewer shows it.

Grey images go through the modality LUT (rescale slope/intercept or Modality LUT Sequence), then the VOI
transformation — the ``window=center,width,function`` parameter if given, else the object's VOI LUT Sequence, else
its first Window Center/Width, else the frame's full range — and MONOCHROME1 is inverted. Enhanced multi-frame
objects take rescale and window from their shared / per-frame functional groups. Colour images are shown as RGB
(palette colour through its LUT). ``viewport=vw,vh[,sx,sy,sw,sh]`` crops and fits the result, keeping the aspect
ratio; ``quality`` (1–100) sets JPEG quality. CPU-bound: callers run it on a worker thread.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi, apply_windowing
from pydicom.pixels.utils import pixel_array

from imaging_cloud.errors import BadRequest

JPEG = "image/jpeg"
PNG = "image/png"
RENDERED_MEDIA_TYPES = (JPEG, PNG)
DEFAULT_QUALITY = 90
THUMBNAIL_SIZE = 128
_FUNCTIONS = {"linear": "LINEAR", "linear-exact": "LINEAR_EXACT", "sigmoid": "SIGMOID"}
_PIXEL_TRANSFORM = ("RescaleSlope", "RescaleIntercept", "RescaleType")
_FRAME_VOI = ("WindowCenter", "WindowWidth", "VOILUTFunction")


@dataclass(frozen=True)
class Window:
    center: float
    width: float
    function: str = "LINEAR"


@dataclass(frozen=True)
class Viewport:
    width: int
    height: int
    region: tuple[int, int, int, int] | None = None
    """``(sx, sy, sw, sh)``: the source region to show, in pixels."""


@dataclass(frozen=True)
class RenderRequest:
    media_type: str = JPEG
    frame_index: int = 0
    window: Window | None = None
    viewport: Viewport | None = None
    quality: int = DEFAULT_QUALITY


def _numbers(value: str, name: str) -> list[float]:
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise BadRequest(f"{name} takes comma-separated numbers", code=f"invalid-{name}") from None


def parse_window(value: str) -> Window:
    """``center,width[,linear|linear-exact|sigmoid]`` (PS3.18 Table 8.3.5-1)."""
    parts = value.split(",")
    if len(parts) not in (2, 3):
        raise BadRequest("window takes center,width,function", code="invalid-window")
    center, width = _numbers(",".join(parts[:2]), "window")
    function = _FUNCTIONS.get(parts[2].strip().lower() if len(parts) == 3 else "linear")
    if function is None:
        raise BadRequest("window function must be linear, linear-exact or sigmoid", code="invalid-window")
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise BadRequest("window width must be positive (at least 1 for linear)", code="invalid-window")
    return Window(center, width, function)


def parse_viewport(value: str) -> Viewport:
    """``vw,vh`` or ``vw,vh,sx,sy,sw,sh`` with positive sizes (flipping by negative sizes is not supported)."""
    numbers = _numbers(value, "viewport")
    if len(numbers) not in (2, 6) or any(n != int(n) for n in numbers):
        raise BadRequest("viewport takes vw,vh or vw,vh,sx,sy,sw,sh as integers", code="invalid-viewport")
    values = [int(n) for n in numbers]
    if values[0] < 1 or values[1] < 1 or values[0] * values[1] > 64_000_000:
        raise BadRequest("viewport size must be positive and at most 64 megapixels", code="invalid-viewport")
    if len(values) == 2:
        return Viewport(values[0], values[1])
    sx, sy, sw, sh = values[2:]
    if sx < 0 or sy < 0 or sw < 1 or sh < 1:
        raise BadRequest("viewport region must lie inside the image, with positive size", code="invalid-viewport")
    return Viewport(values[0], values[1], (sx, sy, sw, sh))


def parse_render_parameters(
    items: Iterable[tuple[str, str]], media_type: str, *, default_viewport: Viewport | None = None
) -> RenderRequest:
    """A ``RenderRequest`` from the query (``window``, ``viewport``, ``quality``); other parameters are a 400."""
    window: Window | None = None
    viewport = default_viewport
    quality = DEFAULT_QUALITY
    for key, value in items:
        if key == "window":
            window = parse_window(value)
        elif key == "viewport":
            viewport = parse_viewport(value)
        elif key == "quality":
            if not value.isdigit() or not 1 <= int(value) <= 100:
                raise BadRequest("quality must be an integer from 1 to 100", code="invalid-quality")
            quality = int(value)
        else:
            raise BadRequest("unsupported rendering parameter", code="unsupported-parameter", detail={"parameter": key})
    return RenderRequest(media_type=media_type, window=window, viewport=viewport, quality=quality)


def _frame_dataset(header: Dataset, frame_index: int) -> Dataset:
    """The image pixel, modality LUT and VOI LUT attributes that apply to one frame."""
    frame = Dataset()
    for element in header.group_dataset(0x0028):
        frame.add(element)
    groups: list[Dataset] = []
    for keyword in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        sequence = header.get(keyword)
        index = 0 if keyword.startswith("Shared") else frame_index
        if sequence and index < len(sequence):
            groups.append(sequence[index])
    for group in groups:  # per-frame values override shared ones
        for sequence_keyword, keywords in (
            ("PixelValueTransformationSequence", _PIXEL_TRANSFORM),
            ("FrameVOILUTSequence", _FRAME_VOI),
        ):
            items = group.get(sequence_keyword)
            if items:
                for keyword in keywords:
                    if keyword in items[0]:
                        setattr(frame, keyword, items[0][keyword].value)
    return frame


def _window_dataset(window: Window) -> Dataset:
    """A VOI-only dataset whose output range pydicom maps to 0–255 (8 bits stored, unsigned, no rescale)."""
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsStored = 8
    ds.PixelRepresentation = 0
    ds.WindowCenter = window.center
    ds.WindowWidth = window.width
    ds.VOILUTFunction = window.function
    return ds


def _first(value: Any) -> float:
    return float(value[0] if isinstance(value, (MultiValue, list, tuple)) else value)


def _stored_window(frame: Dataset) -> Window | None:
    if "WindowCenter" not in frame or "WindowWidth" not in frame:
        return None
    width = _first(frame.WindowWidth)
    function = str(frame.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
    if width <= 0 or (function == "LINEAR" and width < 1):
        return None
    return Window(_first(frame.WindowCenter), width, function)


def _to_8bit_range(values: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros(values.shape, dtype=np.float64)
    return (values.astype(np.float64) - low) / (high - low) * 255.0


def _grey(values: np.ndarray, frame: Dataset, window: Window | None) -> np.ndarray:
    values = apply_modality_lut(values, frame)
    window = window or (None if frame.get("VOILUTSequence") else _stored_window(frame))
    if window is not None:
        shown = apply_windowing(values.astype(np.float64), _window_dataset(window))
    elif frame.get("VOILUTSequence"):
        entries, first = (int(v) for v in frame.VOILUTSequence[0].LUTDescriptor[:2])
        # The LUT's own output range, read through pydicom so US and OW LUT Data are handled alike.
        lut_range = apply_voi(np.arange(first, first + (entries or 65536)), frame)
        shown = _to_8bit_range(apply_voi(values, frame), 0, float(lut_range.max()))
    else:
        shown = _to_8bit_range(values, float(values.min()), float(values.max()))
    if frame.get("PhotometricInterpretation") == "MONOCHROME1":
        shown = 255.0 - shown
    return shown


def _colour(values: np.ndarray, frame: Dataset) -> np.ndarray:
    if frame.get("PhotometricInterpretation") == "PALETTE COLOR":
        values = apply_color_lut(values, frame)
        bits = 16 if values.dtype.itemsize > 1 else 8
    else:
        bits = int(frame.get("BitsStored", 8))
    return _to_8bit_range(values, 0, float(2**bits - 1))


def _fit(image: Image.Image, viewport: Viewport) -> Image.Image:
    if viewport.region is not None:
        sx, sy, sw, sh = viewport.region
        if sx + sw > image.width or sy + sh > image.height:
            raise BadRequest("viewport region lies outside the image", code="invalid-viewport")
        image = image.crop((sx, sy, sx + sw, sy + sh))
    scale = min(viewport.width / image.width, viewport.height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS) if size != image.size else image


def render_frame(source: BinaryIO, request: RenderRequest) -> bytes:
    """The frame ``request.frame_index`` of the object in ``source`` (seekable) encoded as ``request.media_type``."""
    header = pydicom.dcmread(source, stop_before_pixels=True)
    frame = _frame_dataset(header, request.frame_index)
    source.seek(0)
    values = pixel_array(source, index=request.frame_index)
    photometric = str(frame.get("PhotometricInterpretation", "MONOCHROME2"))
    if values.ndim == 2 and photometric != "PALETTE COLOR":
        shown = _grey(values, frame, request.window)
    else:
        shown = _colour(values, frame)
    pixels = np.clip(np.rint(shown), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)  # uint8: 2-D is "L", (rows, columns, 3) is "RGB"
    if request.viewport is not None:
        image = _fit(image, request.viewport)
    output = io.BytesIO()
    if request.media_type == PNG:
        image.save(output, format="PNG", optimize=False)
    else:
        image.save(output, format="JPEG", quality=request.quality)
    return output.getvalue()
