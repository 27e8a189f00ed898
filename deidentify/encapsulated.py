"""Encapsulated documents (PS3.3 C.24.2): the PDF is rebuilt image-only with identifiers blacked out; others refused.

The header of an Encapsulated PDF object goes through the profile like any other (Document Title, Concept Name
Code Sequence, Source Instance Sequence… by the table's rules). Its Encapsulated Document is not "replaced with
a dummy" (the table's D), which would throw away the report a doctor needs: it is replaced by the output of
:func:`deidentify.reports.redact_pdf_report` — the pages rendered as images with every known identifier (the
caller's and those harvested from the header) blacked out, and no text layer, Info or XMP metadata — a cleaned
value the reader can still use. Encapsulated Document Length, MIME Type and Burned In Annotation are set to
match it.

Other encapsulated documents are refused with a stable code: CDA is XML with identifiers in structure and free
text, and the 3-D model formats (STL, OBJ, MTL) carry free-text headers and comments; neither is cleaned here.
An empty Encapsulated Document carries nothing and is left to the table's rule.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from deidentify.errors import MalformedInput, RejectedInstance
from deidentify.pdf import PdfLimits, RedactionResult
from deidentify.reports import redact_pdf_report
from deidentify.subjects import KnownIdentifiers

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
ENCAPSULATED_CDA_STORAGE = "1.2.840.10008.5.1.4.1.1.104.2"
MODEL_STORAGE = frozenset(
    {
        "1.2.840.10008.5.1.4.1.1.104.3",  # Encapsulated STL
        "1.2.840.10008.5.1.4.1.1.104.4",  # Encapsulated OBJ
        "1.2.840.10008.5.1.4.1.1.104.5",  # Encapsulated MTL
    }
)
ENCAPSULATED_DOCUMENT = 0x00420011
MIME_TYPE = 0x00420012
DOCUMENT_LENGTH = 0x00420015
BURNED_IN_ANNOTATION = 0x00280301
SOP_CLASS_UID = 0x00080016
PDF_MIME = "application/pdf"


@dataclass(frozen=True)
class RebuiltPdf:
    """The redacted document (unpadded) and what the redaction did (counts only)."""

    data: bytes
    redaction: RedactionResult


def has_pdf_to_rebuild(dataset: Dataset) -> bool:
    """True for an Encapsulated PDF with a document; raise for other non-empty encapsulated documents."""
    if ENCAPSULATED_DOCUMENT not in dataset:
        return False
    if not _document(dataset):
        if _sop_class(dataset) == ENCAPSULATED_PDF_STORAGE:
            raise MalformedInput("encapsulated-document-empty", "Encapsulated PDF object without a document")
        return False  # nothing encapsulated: the table's rule applies to the empty element
    sop_class = _sop_class(dataset)
    if sop_class == ENCAPSULATED_CDA_STORAGE:
        raise RejectedInstance("encapsulated-cda", "encapsulated CDA documents cannot be de-identified here")
    if sop_class in MODEL_STORAGE:
        raise RejectedInstance("encapsulated-model", "encapsulated 3-D models (STL/OBJ/MTL) cannot be de-identified")
    if sop_class != ENCAPSULATED_PDF_STORAGE:
        raise RejectedInstance("encapsulated-document", "an encapsulated document in this SOP class is not handled")
    mime = dataset.get(MIME_TYPE)
    mime_type = str(mime.value or "").strip().lower() if mime is not None else ""
    if mime_type and mime_type != PDF_MIME:
        raise RejectedInstance("encapsulated-mime-type", "Encapsulated PDF whose MIME type is not application/pdf")
    return True


def rebuild_pdf(dataset: Dataset, known: KnownIdentifiers, limits: PdfLimits | None = None) -> RebuiltPdf:
    """Redact the Encapsulated PDF of ``dataset`` for ``known``; raise ``PdfRefused`` when it cannot be sure.

    The dataset is not changed: :func:`store_pdf` puts the result in, after the header has been processed.
    """
    target = io.BytesIO()
    redaction = redact_pdf_report(_document(dataset), target, known, limits)
    return RebuiltPdf(data=target.getvalue(), redaction=redaction)


def store_pdf(dataset: Dataset, rebuilt: RebuiltPdf) -> None:
    """Set the rebuilt document (padded to even length), its length, MIME type and Burned In Annotation."""
    data = rebuilt.data
    padded = data + b"\x00" if len(data) % 2 else data
    dataset[ENCAPSULATED_DOCUMENT] = DataElement(ENCAPSULATED_DOCUMENT, "OB", padded)
    dataset[DOCUMENT_LENGTH] = DataElement(DOCUMENT_LENGTH, "UL", len(data))
    dataset[MIME_TYPE] = DataElement(MIME_TYPE, "LO", PDF_MIME)
    # no identifier is left on the rendered pages: every one found in the text was painted over, and pages whose
    # text exists only as an image are refused by the redaction
    dataset[BURNED_IN_ANNOTATION] = DataElement(BURNED_IN_ANNOTATION, "CS", "NO")


def _sop_class(dataset: Dataset) -> str:
    element = dataset.get(SOP_CLASS_UID)
    return str(element.value or "").strip().rstrip("\x00") if element is not None else ""


def _document(dataset: Dataset) -> bytes:
    """The document's bytes without DICOM's padding (Encapsulated Document Length, when it is consistent)."""
    value = dataset[ENCAPSULATED_DOCUMENT].value
    if value is None:
        return b""
    if not isinstance(value, bytes):
        raise MalformedInput("encapsulated-document-unreadable", "Encapsulated Document is not a byte value")
    length = dataset.get(DOCUMENT_LENGTH)
    declared = length.value if length is not None else None
    if isinstance(declared, int) and 0 < declared <= len(value):
        return value[:declared]
    return value
