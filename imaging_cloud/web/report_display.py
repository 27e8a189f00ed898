"""Reports as the study page shows them beside the images: text as text, PDF pages as images, SR as an outline.

The page's CSP allows no frame and no object (``default-src 'none'``, ``object-src 'none'``), so a PDF cannot be
embedded; its pages are rendered here (PDFium, as the de-identifier uses it) to PNG ``data:`` images, which
``img-src data:`` allows. Stored PDFs are image-only anyway (the de-identifier rebuilds them from rendered pages),
so there is no text to show instead. A Structured Report is walked into a nested outline of concept names and
values. Each report keeps a download link to the API's ``/reports/{uid}`` for the original bytes.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, replace
from typing import Any

import pydicom
import pypdfium2 as pdfium
from pydicom.dataset import Dataset

from deidentify.pdf import PDFIUM_LOCK

#: PDF pages shown inline; a longer report shows these and the download link for the rest.
MAX_INLINE_PAGES = 10
#: Width in pixels of a rendered PDF page (readable on a desktop, scaled down on a phone).
PAGE_WIDTH_PX = 1000
#: Bounds on what an SR outline shows (a pathological tree must not make the page endless).
MAX_OUTLINE_DEPTH = 8
MAX_OUTLINE_ITEMS = 500


@dataclass(frozen=True)
class OutlineItem:
    """One SR content item: its concept name, its value as text, and the items it contains."""

    name: str
    value: str
    children: tuple[OutlineItem, ...] = ()


@dataclass(frozen=True)
class ShownReport:
    report_uid: str
    title: str
    status: str
    kind: str
    created_at: str
    download_url: str
    download_name: str
    text: str | None = None
    pages: tuple[str, ...] = ()
    """PDF pages as ``data:image/png;base64,…`` URIs."""
    hidden_pages: int = 0
    outline: tuple[OutlineItem, ...] = ()
    outline_title: str = ""
    readable: bool = True
    """False when the bytes could not be read as their kind: the page then offers the download only."""


_EXTENSIONS = {"pdf": "pdf", "encapsulated-pdf": "pdf", "sr": "dcm", "text": "txt"}


def shown_report(listed: dict[str, Any], content: bytes, charset: str | None) -> ShownReport:
    """The report ``listed`` (an item of ``GET /studies/{s}/reports``) with its bytes ``content`` made showable."""
    kind = str(listed["kind"])
    uid = str(listed["report_uid"])
    base = ShownReport(
        report_uid=uid,
        title=str(listed.get("title") or ""),
        status=str(listed.get("status") or ""),
        kind=kind,
        created_at=str(listed.get("created_at") or "")[:10],
        download_url=str(listed["url"]),
        download_name=f"report-{uid[-12:]}.{_EXTENSIONS.get(kind, 'bin')}",
    )
    unreadable = replace(base, readable=False)
    content_type = str(listed.get("content_type") or "")
    if content_type.startswith("text/"):
        try:
            return replace(base, text=content.decode(charset or "utf-8"))
        except (LookupError, UnicodeDecodeError):
            return unreadable
    if content_type == "application/pdf":
        pages = pdf_pages(content)
        if pages is None:
            return unreadable
        shown, total = pages
        return replace(base, pages=shown, hidden_pages=total - len(shown))
    if content_type == "application/dicom":
        outline = sr_outline(content)
        if outline is None:
            return unreadable
        title, items = outline
        return replace(base, outline=items, outline_title=title)
    return unreadable


def pdf_pages(content: bytes) -> tuple[tuple[str, ...], int] | None:
    """The first pages of a PDF as PNG data URIs and its page count; ``None`` if PDFium cannot read it."""
    rendered: list[str] = []
    with PDFIUM_LOCK:  # PDFium is not thread-safe; the de-identifier renders under the same lock
        try:
            document = pdfium.PdfDocument(content)
        except pdfium.PdfiumError:
            return None
        try:
            total = len(document)
            for index in range(min(total, MAX_INLINE_PAGES)):
                page = document[index]
                try:
                    width_pt = page.get_width() or 1.0
                    image = page.render(scale=PAGE_WIDTH_PX / width_pt).to_pil()
                finally:
                    page.close()
                buffer = io.BytesIO()
                image.convert("L" if image.mode in ("L", "1") else "RGB").save(buffer, format="PNG")
                rendered.append("data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii"))
        except pdfium.PdfiumError:
            return None
        finally:
            document.close()
    return tuple(rendered), total


def _meaning(item: Dataset, keyword: str) -> str:
    codes = item.get(keyword)
    if not codes:
        return ""
    code = codes[0]
    return str(code.get("CodeMeaning") or code.get("CodeValue") or "")


def _value(item: Dataset) -> str:
    value_type = str(item.get("ValueType", ""))
    if value_type == "TEXT":
        return str(item.get("TextValue", ""))
    if value_type == "CODE":
        return _meaning(item, "ConceptCodeSequence")
    if value_type == "NUM":
        measured = item.get("MeasuredValueSequence")
        if not measured:
            return ""
        unit = _meaning(measured[0], "MeasurementUnitsCodeSequence")
        return f"{measured[0].get('NumericValue', '')} {unit}".strip()
    if value_type in ("DATE", "TIME", "DATETIME", "UIDREF"):
        keyword = {"DATE": "Date", "TIME": "Time", "DATETIME": "DateTime", "UIDREF": "UID"}[value_type]
        return str(item.get(keyword, ""))
    if value_type == "PNAME":
        return str(item.get("PersonName", ""))
    return ""


def _outline(items: Any, depth: int, budget: list[int]) -> tuple[OutlineItem, ...]:
    shown: list[OutlineItem] = []
    for item in items or ():
        if budget[0] <= 0:
            break
        budget[0] -= 1
        children = _outline(item.get("ContentSequence"), depth + 1, budget) if depth < MAX_OUTLINE_DEPTH else ()
        name, value = _meaning(item, "ConceptNameCodeSequence"), _value(item)
        if name or value or children:
            shown.append(OutlineItem(name=name, value=value, children=children))
    return tuple(shown)


def sr_outline(content: bytes) -> tuple[str, tuple[OutlineItem, ...]] | None:
    """A Structured Report's document title and content tree; ``None`` if it is not a readable SR."""
    try:
        dataset = pydicom.dcmread(io.BytesIO(content))
        if "ContentSequence" not in dataset:
            return None
        return _meaning(dataset, "ConceptNameCodeSequence"), _outline(dataset.ContentSequence, 0, [MAX_OUTLINE_ITEMS])
    except Exception:  # pydicom raises many types on malformed input
        return None
