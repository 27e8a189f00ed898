"""De-identify stand-alone reports: plain text (UTF-8 or GB18030/GBK) and PDF, for a person's known identifiers.

The same functions serve the cloud's report upload, a hospital's local mode and ``deidentify report``:

* :func:`scrub_text_report` decodes the text, replaces every written form of the identifiers (and their pinyin
  spellings, :mod:`deidentify.pinyin`) and the generic patterns with ``***``, checks that nothing is left, and
  returns UTF-8;
* :func:`redact_pdf_report` rebuilds a PDF as page images with every identifier blacked out, no text layer and
  no Info or XMP metadata (:mod:`deidentify.pdf`), and verifies the result.

Both raise :class:`~deidentify.errors.RejectedInstance` (``PdfRefused`` for PDFs) with a stable code rather than
return something they are not sure of.
"""

from __future__ import annotations

from typing import BinaryIO

from deidentify.errors import RejectedInstance
from deidentify.pdf import PdfLimits, RedactionResult, redact_pdf
from deidentify.pinyin import report_scrubber, with_pinyin
from deidentify.scrubbing import Scrubber
from deidentify.subjects import KnownIdentifiers

#: charset names a text report may declare → Python codec (GBK and GB2312 are subsets of GB18030)
TEXT_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gb18030": "gb18030", "gbk": "gb18030", "gb2312": "gb18030"}


def text_codec(charset: str) -> str:
    """The codec for a declared text charset; ``unsupported-charset`` when it is not one reports use."""
    codec = TEXT_CHARSETS.get(charset.strip().lower())
    if codec is None:
        raise RejectedInstance("unsupported-charset", "text reports are UTF-8 or GB18030/GBK")
    return codec


def scrub_text_report(data: bytes, charset: str, known: KnownIdentifiers) -> bytes:
    """``data`` (in ``charset``) scrubbed of ``known`` and generic patterns, as UTF-8 without a BOM."""
    codec = text_codec(charset)
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        raise RejectedInstance("report-text-undecodable", "the text report does not decode with its charset") from None
    return scrub_text(text.removeprefix("\ufeff"), report_scrubber(known)).encode("utf-8")


def scrub_text(text: str, scrubber: Scrubber) -> str:
    """``text`` scrubbed with ``scrubber``, re-checked to hold nothing it finds."""
    scrubbed, _count = scrubber.scrub(text)
    if scrubber.find(scrubbed):
        raise RejectedInstance("report-residual-identifiers", "identifiers remain after scrubbing")
    return scrubbed


def search_terms(known: KnownIdentifiers) -> tuple[str, ...]:
    """Literal strings PDFium's own text search looks for as well (names with pinyin, IDs, phones, addresses)."""
    expanded = with_pinyin(known)
    return expanded.names + expanded.ids + expanded.phones + expanded.addresses


def redact_pdf_report(
    source: BinaryIO | bytes, target: BinaryIO, known: KnownIdentifiers, limits: PdfLimits | None = None
) -> RedactionResult:
    """Write the redacted, image-only PDF of ``source`` to ``target`` (see :func:`deidentify.pdf.redact_pdf`)."""
    scrubber = report_scrubber(known)

    def finder(text: str) -> list[tuple[int, int]]:
        return [(start, end) for start, end, _ in scrubber.find(text)]

    return redact_pdf(source, target, finder, search_terms(known), limits)
