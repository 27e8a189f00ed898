"""Write a PDF whose pages are nothing but one image each: no text layer, no fonts, no Info, no XMP.

Written by hand (the format needs a dozen objects) rather than with Pillow's PDF writer, which always adds an
Info dictionary with creation and modification dates. The output is deterministic — the same page images give
the same bytes — so a report re-uploaded concurrently under the same id produces the same object.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image

JPEG_QUALITY = 85


@dataclass(frozen=True)
class _PageImage:
    jpeg: bytes
    width_px: int
    height_px: int
    gray: bool
    width_pt: float
    height_pt: float


class ImagePdfWriter:
    """Collect page images (one at a time, JPEG-encoded at once), then ``write`` the PDF to a binary stream."""

    def __init__(self) -> None:
        self._pages: list[_PageImage] = []

    @property
    def page_count(self) -> int:
        return len(self._pages)

    def add_page(self, image: Image.Image, width_pt: float, height_pt: float) -> None:
        """Add ``image`` as a page of ``width_pt`` x ``height_pt`` points; grayscale pages are stored as such."""
        gray = image.mode in ("L", "1")
        if not gray:
            image = image.convert("RGB")
            r, g, b = image.split()
            if r.tobytes() == g.tobytes() == b.tobytes():
                image, gray = r, True
        else:
            image = image.convert("L")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, optimize=True)
        self._pages.append(_PageImage(buffer.getvalue(), image.width, image.height, gray, width_pt, height_pt))

    def write(self, target: BinaryIO) -> int:
        """Write the whole document; returns the number of bytes written."""
        offsets: list[int] = []
        written = 0

        def emit(data: bytes) -> None:
            nonlocal written
            target.write(data)
            written += len(data)

        def begin_object(number: int) -> None:
            while len(offsets) < number:
                offsets.append(0)
            offsets[number - 1] = written
            emit(f"{number} 0 obj\n".encode())

        count = len(self._pages)
        # Objects: 1 catalog, 2 page tree, then per page i: page 3+3i, content 4+3i, image 5+3i.
        emit(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        begin_object(1)
        emit(b"<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
        kids = " ".join(f"{3 + 3 * i} 0 R" for i in range(count))
        begin_object(2)
        emit(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>\nendobj\n".encode())
        for i, page in enumerate(self._pages):
            page_no, content_no, image_no = 3 + 3 * i, 4 + 3 * i, 5 + 3 * i
            width, height = _num(page.width_pt), _num(page.height_pt)
            begin_object(page_no)
            emit(
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width} {height}] "
                f"/Resources << /XObject << /Im0 {image_no} 0 R >> >> /Contents {content_no} 0 R >>\nendobj\n".encode()
            )
            content = f"q {width} 0 0 {height} 0 0 cm /Im0 Do Q\n".encode()
            begin_object(content_no)
            emit(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream\nendobj\n")
            colour = "/DeviceGray" if page.gray else "/DeviceRGB"
            begin_object(image_no)
            emit(
                f"<< /Type /XObject /Subtype /Image /Width {page.width_px} /Height {page.height_px} "
                f"/ColorSpace {colour} /BitsPerComponent 8 /Filter /DCTDecode /Length {len(page.jpeg)} >>\n"
                "stream\n".encode()
            )
            emit(page.jpeg)
            emit(b"\nendstream\nendobj\n")
        xref_at = written
        emit(f"xref\n0 {len(offsets) + 1}\n0000000000 65535 f \n".encode())
        for offset in offsets:
            emit(f"{offset:010d} 00000 n \n".encode())
        emit(f"trailer\n<< /Size {len(offsets) + 1} /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n".encode())
        return written


def _num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")
