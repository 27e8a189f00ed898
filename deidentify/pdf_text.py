"""Everything a PDF can say in text, for verification: page text, Info metadata, and its decompressed streams.

Why all three: a reader (or an attacker) gets text from the text layer (PDFium's extraction maps font glyphs to
Unicode, which a byte search cannot do), from the Info dictionary (often UTF-16 or hex strings), and from XMP
metadata, object streams and content streams, which are usually Flate-compressed and invisible to a byte search
of the file. PDFium (Apache-2.0/BSD, see :mod:`deidentify.pdf`) reads the first two; the streams are inflated here
with ``zlib``, with a cap on the inflated size so a compression bomb cannot exhaust memory.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass

import pypdfium2 as pdfium

from deidentify.pdf import PDFIUM_LOCK

#: where a text came from, for findings
PAGE_TEXT = "pdf-text"
METADATA = "pdf-metadata"
STREAM = "pdf-stream"
MAX_INFLATED_BYTES = 64 * 1024 * 1024
"""Total inflated stream bytes read from one PDF; beyond it the PDF is reported unreadable (not skipped)."""

_STREAM = re.compile(rb"(?<!end)stream\r?\n")
_END_STREAM = b"endstream"


class PdfUnreadable(Exception):
    """The bytes look like a PDF but cannot be read completely: nothing can be said about their content."""


@dataclass(frozen=True)
class PdfContent:
    texts: tuple[tuple[str, str], ...]
    """``(where, text)``: each page's text (``pdf-text``) and each Info value (``pdf-metadata``)."""
    streams: tuple[bytes, ...]
    """Every Flate-compressed stream, inflated (XMP metadata, object streams, content streams)."""


def is_pdf(data: bytes) -> bool:
    """Whether ``data`` claims to be a PDF (readers accept the header anywhere in the first kilobyte)."""
    return b"%PDF-" in data[:1024]


def read_pdf_content(data: bytes) -> PdfContent:
    """The text layer, metadata and inflated streams of ``data``; :class:`PdfUnreadable` when PDFium cannot."""
    texts: list[tuple[str, str]] = []
    with PDFIUM_LOCK:
        try:
            document = pdfium.PdfDocument(data)
        except pdfium.PdfiumError:
            raise PdfUnreadable("PDFium cannot open the document") from None
        try:
            texts.extend((METADATA, value) for value in document.get_metadata_dict().values() if value)
            for index in range(len(document)):
                page = document[index]
                try:
                    textpage = page.get_textpage()
                    try:
                        texts.append((PAGE_TEXT, textpage.get_text_range()))
                    finally:
                        textpage.close()
                finally:
                    page.close()
        except pdfium.PdfiumError:
            raise PdfUnreadable("PDFium cannot read a page") from None
        finally:
            document.close()
    return PdfContent(texts=tuple(texts), streams=tuple(_inflated_streams(data)))


def _inflated_streams(data: bytes) -> list[bytes]:
    """Each stream that inflates with zlib; uncompressed and image-coded streams are left to the byte scan."""
    streams: list[bytes] = []
    budget = MAX_INFLATED_BYTES
    for match in _STREAM.finditer(data):
        start = match.end()
        end = data.find(_END_STREAM, start)
        if end < 0:
            break
        try:
            inflated = zlib.decompressobj().decompress(_ascii_decoded(data[start:end]), budget + 1)
        except zlib.error:
            continue  # not Flate (JPEG, uncompressed, other filters)
        if len(inflated) > budget:
            raise PdfUnreadable("the PDF's streams inflate beyond the verification limit")
        budget -= len(inflated)
        if inflated:
            streams.append(inflated)
    return streams


def _ascii_decoded(segment: bytes) -> bytes:
    """``segment`` without an ASCII85 or ASCIIHex wrapping (reportlab's ``useA85`` writes Flate inside ASCII85)."""
    stripped = segment.strip()
    try:
        if stripped.endswith(b"~>"):
            return base64.a85decode(stripped.removeprefix(b"<~")[:-2], adobe=False)
        if stripped.endswith(b">") and re.fullmatch(rb"[0-9A-Fa-f\s]+>", stripped):
            digits = re.sub(rb"\s", b"", stripped[:-1])
            return bytes.fromhex((digits + b"0" * (len(digits) % 2)).decode("ascii"))
    except (ValueError, binascii.Error):
        return segment
    return segment
