"""What the study page's viewer is given: each image series with its images in order, read from QIDO-RS DICOM JSON.

The browser then fetches every image itself from WADO-RS ``/rendered`` with its own cookie; the page only tells
it which instances and frames there are, in which order, and the window each series opens with. That description
is embedded in the page as JSON, so it holds nothing identifying: UIDs (de-identified), numbers, the series'
description and modality.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Instance attributes the viewer asks QIDO-RS for beyond the defaults (InstanceNumber, Rows, NumberOfFrames, …).
INSTANCE_FIELDS = (
    "WindowCenter",
    "WindowWidth",
    "RescaleSlope",
    "RescaleIntercept",
    "BitsStored",
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "FrameTime",
)
SERIES_FIELDS = ("Modality", "SeriesDescription", "SeriesNumber", "BodyPartExamined")

_STUDY_UID = "0020000D"
_SERIES_UID = "0020000E"
_SOP_UID = "00080018"
_SERIES_NUMBER = "00200011"
_SERIES_DESCRIPTION = "0008103E"
_MODALITY = "00080060"
_INSTANCE_NUMBER = "00200013"
_ROWS = "00280010"
_COLUMNS = "00280011"
_FRAMES = "00280008"
_WINDOW_CENTER = "00281050"
_WINDOW_WIDTH = "00281051"
_RESCALE_SLOPE = "00281053"
_RESCALE_INTERCEPT = "00281052"
_BITS_STORED = "00280101"
_SAMPLES_PER_PIXEL = "00280002"
_PHOTOMETRIC = "00280004"
_FRAME_TIME = "00181063"
#: Frames per second of a cine loop whose object states no Frame Time.
DEFAULT_CINE_FPS = 10.0
#: Images larger than this (longest side, pixels) are asked for scaled down to it (a phone need not load 4k CR).
MAX_RENDERED_SIDE = 2048


def first_value(item: Mapping[str, Any], tag: str) -> Any:
    """The first value of ``tag`` in a DICOM JSON object, or ``None``."""
    values = item.get(tag, {}).get("Value") or []
    return values[0] if values else None


def number(item: Mapping[str, Any], tag: str) -> float | None:
    value = first_value(item, tag)
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def text(item: Mapping[str, Any], tag: str) -> str:
    value = first_value(item, tag)
    return "" if value is None else str(value)


@dataclass(frozen=True)
class Window:
    center: float
    width: float


@dataclass(frozen=True)
class ViewerInstance:
    sop_uid: str
    number: int | None
    frames: int


@dataclass(frozen=True)
class ViewerSeries:
    """One series the viewer can show: its images (instances, and frames of multi-frame ones) in order."""

    series_uid: str
    number: int | None
    description: str
    modality: str
    instances: tuple[ViewerInstance, ...]
    rows: int
    columns: int
    colour: bool
    own_window: Window | None
    """The window the first image carries (what the series opens with); ``None``: the renderer's full range."""
    start_window: Window
    """Where dragging starts when the object carries no window: the full range of its stored values."""
    cine_fps: float

    @property
    def image_count(self) -> int:
        return sum(instance.frames for instance in self.instances)

    def as_json(self) -> dict[str, Any]:
        """The viewer's description of this series (no identifiers: see the module docstring)."""
        return {
            "uid": self.series_uid,
            "number": self.number,
            "description": self.description,
            "modality": self.modality,
            "instances": [{"uid": i.sop_uid, "frames": i.frames} for i in self.instances],
            "rows": self.rows,
            "columns": self.columns,
            "colour": self.colour,
            "window": _window_json(self.own_window),
            "startWindow": _window_json(self.start_window),
            "cineFps": self.cine_fps,
            "maxSide": MAX_RENDERED_SIDE,
        }


def _window_json(window: Window | None) -> dict[str, float] | None:
    return None if window is None else {"center": window.center, "width": window.width}


def _is_image(item: Mapping[str, Any]) -> bool:
    """An instance with pixels (Rows present): SR, Encapsulated PDF and the like have none to render."""
    return number(item, _ROWS) is not None and number(item, _COLUMNS) is not None


def _instance_order(item: Mapping[str, Any]) -> tuple[float, str]:
    instance_number = number(item, _INSTANCE_NUMBER)
    return (instance_number if instance_number is not None else float("inf"), text(item, _SOP_UID))


def _own_window(item: Mapping[str, Any]) -> Window | None:
    center, width = number(item, _WINDOW_CENTER), number(item, _WINDOW_WIDTH)
    if center is None or width is None or width < 1:
        return None
    return Window(center, width)


def _full_range(item: Mapping[str, Any]) -> Window:
    """The window covering every value the object's stored bits can hold, through its rescale."""
    bits = int(number(item, _BITS_STORED) or 8)
    slope = number(item, _RESCALE_SLOPE) or 1.0
    intercept = number(item, _RESCALE_INTERCEPT) or 0.0
    span = float(2**bits)
    return Window(center=intercept + slope * span / 2, width=max(1.0, abs(slope) * span))


def _cine_fps(item: Mapping[str, Any]) -> float:
    frame_time = number(item, _FRAME_TIME)  # milliseconds per frame
    if frame_time is None or frame_time <= 0:
        return DEFAULT_CINE_FPS
    return round(min(60.0, 1000.0 / frame_time), 2)


def viewer_series(series: Mapping[str, Any], instances: Iterable[Mapping[str, Any]]) -> ViewerSeries | None:
    """The viewer's series from its QIDO-RS series object and instance objects; ``None`` if it holds no image."""
    images = sorted((item for item in instances if _is_image(item)), key=_instance_order)
    if not images:
        return None
    first = images[0]
    samples = int(number(first, _SAMPLES_PER_PIXEL) or 1)
    photometric = text(first, _PHOTOMETRIC).upper()
    series_number = number(series, _SERIES_NUMBER)
    return ViewerSeries(
        series_uid=text(series, _SERIES_UID),
        number=int(series_number) if series_number is not None else None,
        description=text(series, _SERIES_DESCRIPTION),
        modality=text(series, _MODALITY),
        instances=tuple(
            ViewerInstance(
                sop_uid=text(item, _SOP_UID),
                number=int(n) if (n := number(item, _INSTANCE_NUMBER)) is not None else None,
                frames=max(1, int(number(item, _FRAMES) or 1)),
            )
            for item in images
        ),
        rows=int(number(first, _ROWS) or 0),
        columns=int(number(first, _COLUMNS) or 0),
        colour=samples > 1 or photometric == "PALETTE COLOR",
        own_window=_own_window(first),
        start_window=_own_window(first) or _full_range(first),
        cine_fps=_cine_fps(first),
    )


def series_order(series: Mapping[str, Any]) -> tuple[float, str]:
    """Series in SeriesNumber order (unnumbered last), then by UID so the order is stable."""
    series_number = number(series, _SERIES_NUMBER)
    return (series_number if series_number is not None else float("inf"), text(series, _SERIES_UID))


def study_uid_of(item: Mapping[str, Any]) -> str:
    return text(item, _STUDY_UID)
