"""PDF redaction: identifiers leave no trace in text, metadata, bytes or pixels; findings stay readable."""

from __future__ import annotations

import io
import random
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from reportlab.pdfgen import canvas

from deidentify.pdf import PdfRefused, redact_pdf
from deidentify.pinyin import report_scrubber, with_pinyin
from deidentify.subjects import KnownIdentifiers
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient
from tests.reports.conftest import LEFT, LINE_Y, identifiers_of, report_pdf

SCALE = 2.0
ENCODINGS = ("utf-8", "utf-16-be", "gb18030")


def _known(patient: SyntheticPatient) -> KnownIdentifiers:
    """What the cloud holds: the Chinese name and the IDs (no pinyin, no phone)."""
    return KnownIdentifiers(names=(patient.name_zh,), ids=(patient.national_id, patient.health_card, "MRN-1"))


def _redact(data: bytes, known: KnownIdentifiers) -> bytes:
    scrubber = report_scrubber(known)
    expanded = with_pinyin(known)
    out = io.BytesIO()
    redact_pdf(data, out, lambda text: [(s, e) for s, e, _ in scrubber.find(text)], expanded.names + expanded.ids)
    return out.getvalue()


def _render(data: bytes, page: int = 0) -> np.ndarray:
    document = pdfium.PdfDocument(data)
    try:
        image = document[page].render(scale=SCALE).to_pil().convert("L")
    finally:
        document.close()
    return np.asarray(image, dtype=np.int16)


def _line(image: np.ndarray, name: str, width_pt: float = 400) -> np.ndarray:
    """The pixels of one drawn line of ``report_pdf`` (A4 page, 12 pt text)."""
    height_pt = 841.89
    top = round((height_pt - LINE_Y[name] - 11) * SCALE)
    bottom = round((height_pt - LINE_Y[name] + 4) * SCALE)
    return image[top:bottom, round(LEFT * SCALE) : round((LEFT + width_pt) * SCALE)]


def _text_and_metadata(data: bytes) -> tuple[str, dict[str, str]]:
    document = pdfium.PdfDocument(data)
    try:
        text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
        return text, document.get_metadata_dict()
    finally:
        document.close()


@pytest.fixture(scope="module")
def patient() -> SyntheticPatient:
    return make_patient(random.Random(7))


def test_no_identifier_survives_in_text_metadata_or_bytes(patient: SyntheticPatient) -> None:
    original = report_pdf(patient)
    text, metadata = _text_and_metadata(original)
    assert patient.name_zh in text and patient.national_id in text and metadata["Subject"] == patient.national_id

    redacted = _redact(original, _known(patient))
    text, metadata = _text_and_metadata(redacted)
    assert text == ""
    assert not any(metadata.values())
    for identifier in identifiers_of(patient):
        for encoding in ENCODINGS:
            assert identifier.encode(encoding) not in redacted
            assert identifier.upper().encode(encoding) not in redacted


def test_identifier_lines_are_blacked_out_and_findings_stay_visible(patient: SyntheticPatient) -> None:
    original = report_pdf(patient)
    before, after = _render(original), _render(_redact(original, _known(patient)))
    assert before.shape == after.shape
    for name in ("name", "pinyin", "national_id", "phone"):
        assert (_line(after, name) < 40).mean() > (_line(before, name) < 40).mean() + 0.05, name
    for name in ("findings", "impression"):
        rendered_before, rendered_after = _line(before, name), _line(after, name)
        assert (rendered_after < 128).mean() > 0.02, f"{name} text is visible"
        assert (rendered_after < 40).mean() < 0.5, f"{name} is not blacked out"
        assert np.abs(rendered_after - rendered_before).mean() < 12, f"{name} looks as before"
    blank = after[round(500 * SCALE) : round(600 * SCALE)]
    assert (blank > 240).mean() > 0.99, "the rest of the page stays blank"


def test_labels_beside_identifiers_are_kept(patient: SyntheticPatient) -> None:
    before, after = _render(report_pdf(patient)), _render(_redact(report_pdf(patient), _known(patient)))
    label = slice(0, round(24 * SCALE))  # "姓名" / "身份" before the identifier
    for name in ("name", "national_id"):
        assert np.abs(_line(after, name)[:, label] - _line(before, name)[:, label]).mean() < 25


def test_rotated_pages_are_redacted_where_the_text_is(patient: SyntheticPatient) -> None:
    """/Rotate 90: text drawn along the page's x axis is displayed vertically; the boxes must follow it."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(595, 842), invariant=True)
    pdf.setPageRotation(90)  # reportlab stores a landscape MediaBox (842 x 595) displayed as portrait
    pdf.setFont("Helvetica", 14)
    pdf.drawString(72, 400, f"ID {patient.national_id}")
    pdf.drawString(72, 200, "Findings: unremarkable chest.")
    pdf.save()
    original = buffer.getvalue()
    redacted = _redact(original, _known(patient))
    before, after = _render(original), _render(redacted)
    assert before.shape == after.shape and before.shape[0] > before.shape[1]  # displayed as portrait
    blackened = (after < 40) & (before > 200)  # was white, is black now
    # A clockwise quarter turn: displayed column = page y, displayed row = page x.
    id_band = slice(round((400 - 4) * SCALE), round((400 + 14) * SCALE))
    findings_band = slice(round((200 - 4) * SCALE), round((200 + 14) * SCALE))
    rows, _cols = np.nonzero(blackened[:, id_band])
    assert rows.size > 2000, "the ID is blacked out"
    assert rows.min() >= 85 * SCALE and rows.max() <= 250 * SCALE, "only after the 'ID' label, along the text"
    assert blackened[:, findings_band].sum() < 50, "the findings line is not"
    assert (after[:, findings_band] < 128).sum() > 200, "the findings line is still drawn"
    assert _text_and_metadata(redacted)[0] == ""


def test_form_fields_and_annotations_are_flattened_and_redacted(patient: SyntheticPatient) -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(400, 200), invariant=True)
    pdf.drawString(20, 150, "Findings: unremarkable.")
    pdf.acroForm.textfield(
        name="patient",
        value=patient.health_card,
        x=20,
        y=60,
        width=300,
        height=30,
        borderWidth=0,
        fillColor=None,
        fontName="Helvetica",
        fontSize=14,
    )
    pdf.save()
    redacted = _redact(buffer.getvalue(), _known(patient))
    assert _text_and_metadata(redacted)[0] == ""
    region = (slice(round(110 * SCALE), round(140 * SCALE)), slice(round(20 * SCALE), round(320 * SCALE)))
    unredacted = _redact(buffer.getvalue(), KnownIdentifiers(names=(patient.name_zh,)))  # card unknown
    assert (_render(unredacted)[region] < 40).mean() < 0.1, "the field is drawn as text"
    assert (_render(redacted)[region] < 40).mean() > 0.2, "the field's value is blacked out"
    assert patient.health_card.encode() not in redacted


def test_redaction_is_deterministic(patient: SyntheticPatient) -> None:
    original = report_pdf(patient, pages=2)
    assert _redact(original, _known(patient)) == _redact(original, _known(patient))


def test_a_file_that_is_not_a_pdf_is_refused(patient: SyntheticPatient) -> None:
    with pytest.raises(PdfRefused) as refused:
        _redact(b"GIF89a not a pdf at all", _known(patient))
    assert refused.value.code == "report-not-pdf"


def test_a_damaged_pdf_is_refused(patient: SyntheticPatient) -> None:
    with pytest.raises(PdfRefused) as refused:
        _redact(b"%PDF-1.7\n1 0 obj garbage", _known(patient))
    assert refused.value.code == "report-pdf-unreadable"


def test_an_encrypted_pdf_is_refused(patient: SyntheticPatient) -> None:
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, encrypt="secret-password")
    pdf.drawString(72, 720, patient.national_id)
    pdf.save()
    with pytest.raises(PdfRefused) as refused:
        _redact(buffer.getvalue(), _known(patient))
    assert refused.value.code == "report-pdf-unreadable"


def test_a_scanned_page_without_text_is_refused(patient: SyntheticPatient) -> None:
    scan = Image.fromarray(np.full((300, 200), 230, dtype=np.uint8))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=(200, 300))
    pdf.drawInlineImage(scan, 0, 0, width=200, height=300)
    pdf.save()
    with pytest.raises(PdfRefused) as refused:
        _redact(buffer.getvalue(), _known(patient))
    assert refused.value.code == "report-pdf-image-only"


def test_concurrent_redactions_give_the_same_result(patient: SyntheticPatient) -> None:
    """PDFium is not thread-safe; the route runs in a thread pool, so redactions must not interleave."""
    original = report_pdf(patient, pages=2)
    expected = _redact(original, _known(patient))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: _redact(original, _known(patient)), range(8)))
    assert all(result == expected for result in results)
