"""The OCR adapter: tiles cover large images, boxes map back to image coordinates, text is found across tiles."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from deidentify import Box, RapidOcrDetector
from deidentify.ocr import TILE, TILE_OVERLAP, tiles

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


@pytest.mark.parametrize("length", [1, 31, TILE, TILE + 1, 2 * TILE, 5000, 12345])
def test_tiles_cover_every_pixel_overlap_and_stay_small(length: int) -> None:
    spans = tiles(length)
    assert spans[0][0] == 0 and spans[-1][1] == length
    assert all(end - start <= TILE for start, end in spans)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end - start >= TILE_OVERLAP


def test_box_around_a_polygon_found_in_an_enlarged_tile_maps_back_to_the_image() -> None:
    quadrilateral = [[30.0, 10.0], [90.5, 12.0], [90.0, 30.2], [29.6, 28.0]]
    assert Box.around(quadrilateral, offset_x=100, offset_y=50, scale=2.0) == Box(114, 55, 147, 67)
    assert Box(2, 3, 10, 12).grown(4, width=12, height=14) == Box(0, 0, 12, 14)


def test_text_in_a_wide_image_is_found_in_every_tile_at_image_coordinates() -> None:
    if not FONT.exists():
        pytest.skip("CJK font fonts-wqy-microhei is not installed")
    font = ImageFont.truetype(str(FONT), 18)
    picture = Image.fromarray(np.full((400, TILE + 100), 30, dtype=np.uint8))
    pen = ImageDraw.Draw(picture)
    planted = [
        ((20, 30), "王小东 110101199003074251"),  # left tile only
        ((TILE // 2 - 60, 200), "2024-03-15 欧阳娜娜"),  # across the seam between the two tiles
        ((TILE - 200, 340), "Wang XiaoDong"),  # right tile only
    ]
    boxes = [pen.textbbox(origin, text, font=font) for origin, text in planted]
    for origin, text in planted:
        pen.text(origin, text, fill=240, font=font)
    image = np.repeat(np.asarray(picture)[..., None], 3, axis=2)

    found = RapidOcrDetector(threads=1).detect(image)

    covered = np.zeros(image.shape[:2], dtype=bool)
    for box in found:
        covered[box.y0 : box.y1, box.x0 : box.x1] = True
    for (_, text), bbox in zip(planted, boxes, strict=True):
        x0, y0, x1, y1 = (int(v) for v in bbox)
        assert covered[y0:y1, x0:x1].all(), text
    assert not covered[150:190, :].any()  # nothing where there is no text


def test_engine_sessions_sleep_when_idle_and_keep_the_model_and_threads() -> None:
    """Spinning ONNX Runtime threads steal the second core from the other server worker (a CR took 3× longer)."""
    engine = RapidOcrDetector(threads=1)._loaded()
    for stage in (engine.text_det, engine.text_cls, engine.text_rec):
        wrappers = [v for v in vars(stage).values() if hasattr(v, "session")]
        assert wrappers, stage
        for wrapper in wrappers:
            options = wrapper.session.get_session_options()
            assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
            assert options.intra_op_num_threads == 1
            assert options.enable_cpu_mem_arena
            assert wrapper.session.get_providers() == ["CPUExecutionProvider"]
