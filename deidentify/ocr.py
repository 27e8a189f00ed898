"""Find text in an image, offline: the OCR engine behind Clean Pixel Data.

The default engine is ``rapidocr-onnxruntime`` (Apache-2.0): its wheel carries the PP-OCRv4 Chinese + English
detection and recognition models and runs on ONNX Runtime, so nothing is fetched at run time. It is heavy
(~0.2 s to load, ~0.2 s per 512×512 image for detection on one core), so it is imported and loaded lazily, on
the first image that needs it, once per detector object; :func:`default_detector` is one detector per process.

Redaction uses the **detection** stage only: every region that looks like text is blacked out, whatever it
says. Recognition is not used to choose what to keep, because a misread or a low recognition score would let
an identifier through (RapidOCR drops recognised lines scoring under 0.5). :meth:`RapidOcrDetector.read` runs
the full pipeline (detection + recognition) for checks and tests.

Scale is ours, not the engine's: large images are cut into overlapping tiles (at most :data:`TILE` pixels a
side) instead of being scaled down to the engine's 2000-pixel limit, where small burned-in text would become
unreadable; small tiles are enlarged so their short side reaches :data:`DETECTION_SIDE` (the engine's own
default, which finds 9-pixel text on a low-contrast background that native resolution misses), but at most
:data:`MAX_UPSCALE` times (a 100×100 icon-sized image need not become 736×736).

Speed is ours too: the engine's ONNX Runtime sessions are rebuilt with the same model, providers and graph
optimisation but with idle threads that sleep instead of spinning and with the CPU memory arena on. Spinning
threads busy-wait between operators; with two server workers (or any other load) on two cores they take the
core the other worker needs, and a 2048×2048 CR took ~9 s instead of ~2.5 s. Same model, same inputs, same
boxes: only scheduling and allocation change.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

#: longest side of one detection tile (the engine scales anything over 2000 px down)
TILE = 1600
#: overlap between neighbouring tiles, so text cut by a tile edge is whole in one of them
TILE_OVERLAP = 96
#: detection box threshold: lower than RapidOCR's 0.5 so faint text is found too (we redact, not transcribe)
BOX_THRESHOLD = 0.3
#: short side a tile is enlarged to before detection, and the largest enlargement
DETECTION_SIDE = 736
MAX_UPSCALE = 3.0
#: engine limits set so that it never rescales on its own (sides are only rounded to multiples of 32)
_ENGINE_OPTIONS: dict[str, Any] = {
    "det_box_thresh": BOX_THRESHOLD,
    "det_limit_type": "max",
    "det_limit_side_len": 100_000,
    "max_side_len": 100_000,
}
#: the engine's stages whose ONNX Runtime sessions are rebuilt with :func:`_session_options`
_STAGES = ("text_det", "text_cls", "text_rec")


@dataclass(frozen=True, order=True)
class Box:
    """An axis-aligned region in pixel coordinates: columns ``x0..x1-1``, rows ``y0..y1-1``."""

    x0: int
    y0: int
    x1: int
    y1: int

    def grown(self, margin: int, width: int, height: int) -> Box:
        """This box enlarged by ``margin`` pixels on every side, clipped to the image."""
        x0, y0 = max(0, self.x0 - margin), max(0, self.y0 - margin)
        return Box(x0, y0, min(width, self.x1 + margin), min(height, self.y1 + margin))

    @classmethod
    def around(cls, points: Sequence[Sequence[float]], offset_x: int = 0, offset_y: int = 0, scale: float = 1.0) -> Box:
        """The smallest box holding a polygon (OCR engines return quadrilaterals) found in a tile that was
        enlarged ``scale`` times and lies at (``offset_x``, ``offset_y``) in the image."""
        xs = [float(p[0]) / scale for p in points]
        ys = [float(p[1]) / scale for p in points]
        return cls(
            offset_x + math.floor(min(xs)),
            offset_y + math.floor(min(ys)),
            offset_x + math.ceil(max(xs)) + 1,
            offset_y + math.ceil(max(ys)) + 1,
        )


@dataclass(frozen=True)
class TextLine:
    """One recognised line: where, what, how sure (holds image text: never log it)."""

    box: Box
    text: str
    score: float


class TextDetector(Protocol):
    """Finds text regions in an 8-bit image of shape (rows, columns, 3)."""

    def detect(self, image: NDArray[np.uint8]) -> list[Box]:
        """Every region that looks like text; raise on failure (the caller refuses the object)."""
        ...


class OcrUnavailable(RuntimeError):
    """The OCR engine cannot be loaded (package or models missing)."""


def tiles(length: int) -> list[tuple[int, int]]:
    """Start and end of overlapping tiles covering ``0..length``, of near-equal size, each at most TILE."""
    if length <= TILE:
        return [(0, length)]
    count = math.ceil((length - TILE_OVERLAP) / (TILE - TILE_OVERLAP))
    step = (length - TILE_OVERLAP) / count
    return [(round(i * step), min(length, round(i * step + step + TILE_OVERLAP))) for i in range(count)]


class RapidOcrDetector:
    """:class:`TextDetector` (and reader) on ``rapidocr-onnxruntime``; the engine loads on first use.

    ``threads`` caps ONNX Runtime's threads per call (None: its default, every core); a process pool should
    pass 1. Calls are serialised with a lock: the engine keeps per-call state on itself.
    """

    def __init__(self, *, threads: int | None = None) -> None:
        self._threads = threads
        self._engine: Any = None
        self._lock = threading.Lock()

    def _loaded(self) -> Any:
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR  # noqa: PLC0415 - heavy: imported on first use
            except ImportError as exc:
                raise OcrUnavailable("rapidocr-onnxruntime is not installed") from exc
            options = dict(_ENGINE_OPTIONS)
            if self._threads is not None:
                options.update(intra_op_num_threads=self._threads, inter_op_num_threads=1)
            try:
                engine = RapidOCR(**options)
                for stage in _STAGES:
                    for infer in _inference_sessions(getattr(engine, stage)):
                        _rebuild_session(infer, self._threads)
            except Exception as exc:  # missing model files, ONNX Runtime errors
                raise OcrUnavailable(f"the OCR engine cannot be loaded ({type(exc).__name__})") from exc
            self._engine = engine
        return self._engine

    def _pieces(self, image: NDArray[np.uint8]) -> Iterator[tuple[NDArray[np.uint8], int, int, float]]:
        """Tiles of ``image`` at detection scale, with their offset and the scale applied."""
        height, width = image.shape[:2]
        for y0, y1 in tiles(height):
            for x0, x1 in tiles(width):
                tile = image[y0:y1, x0:x1]
                scale = min(MAX_UPSCALE, max(1.0, DETECTION_SIDE / min(y1 - y0, x1 - x0)))
                if scale > 1.0:
                    size = (round((x1 - x0) * scale), round((y1 - y0) * scale))
                    tile = np.asarray(Image.fromarray(tile).resize(size, Image.Resampling.BILINEAR))
                yield np.ascontiguousarray(tile), x0, y0, scale

    def detect(self, image: NDArray[np.uint8]) -> list[Box]:
        """Text regions of ``image`` (rows, columns, 3)."""
        height, width = image.shape[:2]
        boxes: list[Box] = []
        with self._lock:
            engine = self._loaded()
            for tile, x0, y0, scale in self._pieces(image):
                found, _elapsed = engine(tile, use_det=True, use_cls=False, use_rec=False)
                boxes.extend(Box.around(points, x0, y0, scale).grown(0, width, height) for points in found or ())
        return boxes

    def read(self, image: NDArray[np.uint8]) -> list[TextLine]:
        """Detect and recognise text (the engine itself drops lines it scores under 0.5)."""
        height, width = image.shape[:2]
        lines: list[TextLine] = []
        with self._lock:
            engine = self._loaded()
            for tile, x0, y0, scale in self._pieces(image):
                found, _elapsed = engine(tile)
                for points, text, score in found or ():
                    box = Box.around(points, x0, y0, scale).grown(0, width, height)
                    lines.append(TextLine(box, str(text), float(score)))
        return lines


def _session_options(threads: int | None) -> Any:
    """The engine's own session options, but sleeping idle threads and the CPU memory arena on (see above)."""
    import onnxruntime  # type: ignore[import-untyped]  # noqa: PLC0415 - heavy: imported with the engine

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 4
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.enable_cpu_mem_arena = True
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    options.inter_op_num_threads = 1
    if threads is not None:
        options.intra_op_num_threads = threads
    return options


def _inference_sessions(stage: Any) -> list[Any]:
    """The engine's session wrappers held by one stage (the attribute name differs from stage to stage)."""
    from rapidocr_onnxruntime.utils import OrtInferSession  # noqa: PLC0415 - heavy: imported with the engine

    return [value for value in vars(stage).values() if isinstance(value, OrtInferSession)]


def _rebuild_session(infer: Any, threads: int | None) -> None:
    """Replace one stage's ONNX Runtime session by one on the same model and providers with our options."""
    old = infer.session
    model = old._model_path  # the path the engine loaded (checked by the engine already)
    options = old.get_provider_options()
    providers = [(name, options.get(name, {})) for name in old.get_providers()]
    infer.session = type(old)(model, sess_options=_session_options(threads), providers=providers)


_default: RapidOcrDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> RapidOcrDetector:
    """The process's shared detector (created on first call; its engine loads on first use)."""
    global _default  # noqa: PLW0603 - one lazily created engine per process: loading it costs ~0.2 s
    with _default_lock:
        if _default is None:
            _default = RapidOcrDetector()
        return _default
