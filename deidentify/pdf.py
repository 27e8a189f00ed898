"""Redact a PDF report: render each page, black out every identifier, and rebuild it as images only.

Why rebuild instead of editing the PDF: identifiers hide in places an in-place edit misses — the text layer,
font subsets and ToUnicode maps, Info and XMP metadata, annotations, form fields, attachments, incremental
updates. The output keeps only what a reader sees: one rendered image per page, with the identifiers' boxes
painted black, in a new PDF with no text layer and no metadata (``image_pdf``). It is then verified: no
extractable text, no metadata, the expected page count.

Why ``pypdfium2``: it binds Google's PDFium, licensed Apache-2.0 / BSD-3-Clause, which a network service may
use without publishing its own source. PyMuPDF (MuPDF) is AGPL-3.0: serving it over a network obliges the
operator to offer the complete source of the service to every user, which this project does not want to impose
on the regions that deploy it (and a commercial MuPDF licence is not an option for an open-source project).

How identifiers are found: annotations and form fields are first flattened into the page content, so their
text is extracted like the rest. Each page's text is read character by character from PDFium (one code point
per character index, so spans map exactly to character boxes); the ``finder`` (the de-identifier's scrubber:
known identifiers in every written form plus generic patterns) returns spans, and PDFium's own text search
adds every occurrence of each literal ``term``. The loose character boxes of every matched character are
blacked out (with a small margin) in the rendered image.

What is refused rather than guessed (``PdfRefused``): unreadable or encrypted files, too many pages, and pages
whose text cannot be mapped to Unicode (a font without a ToUnicode map: identifiers in it cannot be found).
Text that exists only as pixels (a scanned page, an embedded image with burned-in text) is not found by this
step; such pages are refused too unless the caller accepts them (``allow_image_only_pages``).
"""

from __future__ import annotations

import ctypes
import io
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import ImageDraw

from deidentify.errors import RejectedInstance
from deidentify.image_pdf import ImagePdfWriter

logger = logging.getLogger(__name__)

SpanFinder = Callable[[str], Iterable[tuple[int, int]]]
"""Returns ``(start, end)`` character spans of identifiers in a page's text."""

_UNMAPPED = {0, 0xFFFD, 0xFFFE, 0xFFFF}
_STREAM_START = b">>\nstream\n"
PDFIUM_LOCK = threading.Lock()
"""PDFium is not thread-safe: every use of it in the process holds this lock."""


class PdfRefused(RejectedInstance):
    """The PDF cannot be redacted with certainty; ``code`` is stable, the message names the rule (no PHI)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.message = message


@dataclass(frozen=True)
class PdfLimits:
    max_pages: int = 300
    dpi: float = 150.0
    max_side_px: int = 3508
    """Longest side of a rendered page (A4 at 300 dpi); huge page boxes are rendered at a lower resolution."""
    margin_pt: float = 1.5
    max_unmapped_ratio: float = 0.02
    """Share of characters without a Unicode mapping above which a page's text is considered unreadable."""
    min_text_chars: int = 8
    """A page with fewer extractable characters than this but with images is treated as image-only (scanned)."""
    allow_image_only_pages: bool = False


@dataclass(frozen=True)
class RedactionResult:
    pages: int
    boxes: int
    """How many character boxes were blacked out."""
    size: int


def redact_pdf(
    source: BinaryIO | bytes,
    target: BinaryIO,
    finder: SpanFinder,
    terms: Sequence[str] = (),
    limits: PdfLimits | None = None,
) -> RedactionResult:
    """Write the redacted, image-only version of ``source`` to ``target``; raise PdfRefused when unsure.

    PDFium is not thread-safe: one redaction runs at a time per process (workers are separate processes).
    """
    with PDFIUM_LOCK:
        return _redact_pdf(source, target, finder, terms, limits or PdfLimits())


def _redact_pdf(
    source: BinaryIO | bytes, target: BinaryIO, finder: SpanFinder, terms: Sequence[str], limits: PdfLimits
) -> RedactionResult:
    document = _open(source)
    try:
        page_count = len(document)
        if page_count == 0:
            raise PdfRefused("report-pdf-empty", "the PDF has no pages")
        if page_count > limits.max_pages:
            raise PdfRefused("report-pdf-too-many-pages", f"the PDF has more than {limits.max_pages} pages")
        writer = ImagePdfWriter()
        boxes = 0
        for index in range(page_count):
            boxes += _redact_page(document, index, writer, finder, terms, limits)
    finally:
        document.close()
    start = target.tell()
    size = writer.write(target)
    target.seek(start)
    verify_image_only(target, expected_pages=page_count)
    target.seek(start)
    logger.info("PDF report redacted: %d pages, %d character boxes blacked out", page_count, boxes)
    return RedactionResult(pages=page_count, boxes=boxes, size=size)


def _open(source: BinaryIO | bytes) -> pdfium.PdfDocument:
    if not isinstance(source, bytes):
        source.seek(0)
        source = source.read()
    if b"%PDF-" not in source[:1024]:
        raise PdfRefused("report-not-pdf", "the file is not a PDF")
    try:
        return pdfium.PdfDocument(source)
    except pdfium.PdfiumError:
        raise PdfRefused("report-pdf-unreadable", "the PDF cannot be opened (damaged or encrypted)") from None


def _redact_page(
    document: pdfium.PdfDocument,
    index: int,
    writer: ImagePdfWriter,
    finder: SpanFinder,
    terms: Sequence[str],
    limits: PdfLimits,
) -> int:
    page = document[index]
    flattened = pdfium_c.FPDFPage_Flatten(page.raw, pdfium_c.FLAT_NORMALDISPLAY)
    if flattened == pdfium_c.FLATTEN_FAIL:
        page.close()
        raise PdfRefused("report-pdf-unreadable", "annotations or form fields of a page cannot be flattened")
    if flattened == pdfium_c.FLATTEN_SUCCESS:
        page.close()  # the flattened content is seen only by a freshly loaded page
        page = document[index]
    try:
        textpage = page.get_textpage()
        try:
            rects = _identifier_boxes(textpage, finder, terms, limits)
            text_chars = textpage.count_chars()
        finally:
            textpage.close()
        if text_chars < limits.min_text_chars and _has_images(page) and not limits.allow_image_only_pages:
            raise PdfRefused(
                "report-pdf-image-only",
                "a page carries its text only as an image (scanned), which cannot be checked for identifiers",
            )
        width_pt, height_pt = page.get_size()
        scale = min(limits.dpi / 72.0, limits.max_side_px / max(width_pt, height_pt, 1.0))
        image = page.render(scale=scale, draw_annots=True, may_draw_forms=False).to_pil().convert("RGB")
        draw = ImageDraw.Draw(image)
        for left, bottom, right, top in rects:
            x0, y0 = _to_device(page, image.width, image.height, left - limits.margin_pt, top + limits.margin_pt)
            x1, y1 = _to_device(page, image.width, image.height, right + limits.margin_pt, bottom - limits.margin_pt)
            draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=(0, 0, 0))
        writer.add_page(image, width_pt, height_pt)  # PDFium's page size is the displayed (rotated) one
        return len(rects)
    finally:
        page.close()


def _identifier_boxes(
    textpage: pdfium.PdfTextPage, finder: SpanFinder, terms: Sequence[str], limits: PdfLimits
) -> list[tuple[float, float, float, float]]:
    count = textpage.count_chars()
    if count <= 0:
        return []
    codes = [pdfium_c.FPDFText_GetUnicode(textpage.raw, i) for i in range(count)]
    unmapped = sum(1 for code in codes if code in _UNMAPPED or 0xE000 <= code <= 0xF8FF)
    if unmapped > max(1, int(count * limits.max_unmapped_ratio)):
        raise PdfRefused("report-pdf-text-unmapped", "a page's text cannot be mapped to characters (no ToUnicode)")
    text = "".join(chr(code) if 0 < code < 0x110000 else "\ufffd" for code in codes)
    indices: set[int] = set()
    for start, end in finder(text):
        indices.update(range(max(0, start), min(count, end)))
    for term in terms:
        if not term.strip():
            continue
        searcher = textpage.search(term, match_case=False, match_whole_word=False)
        while (found := searcher.get_next()) is not None:
            start, length = found
            indices.update(range(start, min(count, start + length)))
    boxes = []
    for i in sorted(indices):
        if text[i].isspace():
            continue
        left, bottom, right, top = textpage.get_charbox(i, loose=True)
        if right > left or top > bottom:
            boxes.append((left, bottom, right, top))
    return boxes


def _has_images(page: pdfium.PdfPage) -> bool:
    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=4))


def _to_device(page: pdfium.PdfPage, width: int, height: int, x: float, y: float) -> tuple[int, int]:
    """Page coordinates (points, origin bottom-left) to pixels of the rendered image, honouring /Rotate."""
    device_x, device_y = ctypes.c_int(), ctypes.c_int()
    ok = pdfium_c.FPDF_PageToDevice(page.raw, 0, 0, width, height, 0, x, y, device_x, device_y)
    if not ok:
        raise PdfRefused("report-pdf-unreadable", "page coordinates cannot be mapped to the rendered image")
    return device_x.value, device_y.value


def verify_image_only(source: BinaryIO, *, expected_pages: int) -> None:
    """Prove the rebuilt PDF has the expected pages, no extractable text and no metadata."""
    data = source.read()
    document = pdfium.PdfDocument(data)
    try:
        if len(document) != expected_pages:
            raise PdfRefused("report-pdf-verify-failed", "the redacted PDF lost or gained pages")
        if any(value for value in document.get_metadata_dict().values()):
            raise PdfRefused("report-pdf-verify-failed", "the redacted PDF still carries metadata")
        for index in range(expected_pages):
            page = document[index]
            textpage = page.get_textpage()
            try:
                if textpage.count_chars() != 0:
                    raise PdfRefused("report-pdf-verify-failed", "the redacted PDF still has a text layer")
            finally:
                textpage.close()
                page.close()
    finally:
        document.close()
    for marker in (b"/Metadata", b"/Info", b"/Font", b"/AcroForm", b"/Annots", b"/EmbeddedFile"):
        if _outside_streams(data).find(marker) >= 0:
            raise PdfRefused("report-pdf-verify-failed", "the redacted PDF carries more than page images")


def _outside_streams(data: bytes) -> bytes:
    """The PDF's bytes with stream contents (the JPEG pages) cut out, for structural marker checks.

    Only for PDFs written by ``image_pdf``, whose every stream starts with ``>>\\nstream\\n``.
    """
    out = io.BytesIO()
    cursor = 0
    while (start := data.find(_STREAM_START, cursor)) >= 0:
        end = data.find(b"\nendstream\n", start)
        if end < 0:
            break
        out.write(data[cursor : start + len(_STREAM_START)])
        cursor = end
    out.write(data[cursor:])
    return out.getvalue()
