"""Encapsulated PDF objects: the header is de-identified by the table, the PDF rebuilt image-only, nothing left."""

from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import pydicom
import pypdfium2 as pdfium
import pytest
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFName, PDFStream, PDFZCompress
from reportlab.pdfgen import canvas

from deidentify import (
    CLINICAL_SHARING,
    Keys,
    KnownIdentifiers,
    RejectedInstance,
    Result,
    Subject,
    collect_uids,
    deidentify,
)
from deidentify.cli import main
from deidentify.verification import verify
from tests.deidentify.corpus import WANG, national_id, serialize

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
ENCAPSULATED_CDA_STORAGE = "1.2.840.10008.5.1.4.1.1.104.2"
ROOT = "1.2.156.112536.9"
FONT = "STSong-Light"
FINDINGS = "检查所见: 双肺纹理清晰, 未见明显结节。"
PAGE_HEIGHT = A4[1]
NAME_Y, ID_Y, FINDINGS_Y = 760, 740, 700
#: a second national ID the caller does not pass: found by the generic pattern (valid check character)
OTHER_ID = national_id("310104", "19851122", "136")
#: what must not survive anywhere (the pinyin is derived by the library from the Chinese name)
FORMS = (WANG.chinese_name, "Wang Xiaodong", "WangXiaodong", WANG.national_id, WANG.mobile, OTHER_ID, WANG.mrn)
CALLER_KNOWN = KnownIdentifiers(names=(WANG.chinese_name,), ids=(WANG.national_id,), phones=(WANG.mobile,))


def _xmp() -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{WANG.chinese_name} {WANG.mrn}</dc:creator>'
        f"<dc:description>{OTHER_ID}</dc:description></rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def report_pdf(*, text: bool = True, info: bool = True, xmp: bool = True) -> bytes:
    """A report naming the patient in the layers asked for; the findings are always on the page."""
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    if info:
        pdf.setTitle(f"{WANG.chinese_name} 影像报告")
        pdf.setAuthor("Wang Xiaodong")
        pdf.setSubject(WANG.national_id)
        pdf.setKeywords([WANG.mobile])
    if xmp:  # Flate-compressed: invisible to a plain byte search
        metadata = PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")})
        pdf._doc.Catalog.Metadata = PDFStream(metadata, _xmp(), filters=[PDFZCompress])
    pdf.setFont(FONT, 12)
    if text:
        pdf.drawString(72, NAME_Y, f"姓名: {WANG.chinese_name}  Wang Xiaodong")
        pdf.drawString(72, ID_Y, f"身份证: {WANG.national_id}  电话: {WANG.mobile}")
    pdf.drawString(72, FINDINGS_Y, FINDINGS)
    pdf.showPage()
    pdf.setFont(FONT, 12)
    pdf.drawString(72, FINDINGS_Y, "印象: 未见异常。")
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def encapsulated(document: bytes, *, sop_class: str = ENCAPSULATED_PDF_STORAGE, mime: str = "application/pdf") -> bytes:
    """A Part 10 Encapsulated PDF object naming the patient in its header too (GB18030), document padded."""
    ds = Dataset()
    ds.SpecificCharacterSet = "GB18030"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = f"{ROOT}.{WANG.national_id[:17]}.1"
    ds.StudyInstanceUID = f"{ROOT}.{WANG.national_id[:17]}.2"
    ds.SeriesInstanceUID = f"{ROOT}.{WANG.national_id[:17]}.3"
    ds.Modality = "DOC"
    ds.PatientName = WANG.pn
    ds.PatientID = WANG.mrn
    ds.PatientBirthDate = WANG.national_id[6:14]
    ds.PatientSex = "M"
    ds.PatientTelephoneNumbers = WANG.mobile
    ds.ContentDate = "20240315"
    ds.AcquisitionDateTime = "20240315101500"
    ds.InstanceNumber = 1
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = f"{WANG.chinese_name} 胸部CT报告"
    concept = Dataset()
    concept.CodeValue = "18748-4"
    concept.CodingSchemeDesignator = "LN"
    concept.CodeMeaning = f"Diagnostic imaging report {WANG.national_id}"
    ds.ConceptNameCodeSequence = Sequence([concept])
    source = Dataset()
    source.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    source.ReferencedSOPInstanceUID = f"{ROOT}.{WANG.national_id[:17]}.4"
    ds.SourceInstanceSequence = Sequence([source])
    ds.MIMETypeOfEncapsulatedDocument = mime
    ds.EncapsulatedDocumentLength = len(document)
    ds.EncapsulatedDocument = document + b"\x00" if len(document) % 2 else document
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return serialize(FileDataset("doc", ds, file_meta=meta, preamble=b"\x00" * 128))


def _run(data: bytes, known: KnownIdentifiers = CALLER_KNOWN) -> tuple[bytes, Result]:
    dataset = pydicom.dcmread(io.BytesIO(data))
    keys = Keys(uid_key=b"encapsulated-pdf-uid-key-0123")
    result = deidentify(dataset, profile=CLINICAL_SHARING, keys=keys, subject=Subject("PSEUDO1", known=known))
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, result.dataset, enforce_file_format=True)
    return buffer.getvalue(), result


def _leaks(data: bytes) -> list[tuple[str, str]]:
    lowered = data.lower()
    return [
        (form, codec)
        for form in FORMS
        for codec in ("utf-8", "gb18030", "utf-16-be", "utf-16-le")
        if form.lower().encode(codec) in lowered
    ]


def _inflated_streams(pdf: bytes) -> list[bytes]:
    """An independent reading of the PDF's Flate streams (not the library's)."""
    out = []
    for chunk in pdf.split(b"stream")[1:]:
        body = chunk.lstrip(b"\r\n").split(b"endstream")[0]
        try:
            out.append(zlib.decompress(body))
        except zlib.error:
            continue
    return out


def _pdf_text_and_metadata(pdf: bytes) -> tuple[int, str, dict[str, str]]:
    document = pdfium.PdfDocument(pdf)
    try:
        text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
        return len(document), text, document.get_metadata_dict()
    finally:
        document.close()


def test_source_report_carries_the_identifiers_in_text_layer_info_and_compressed_xmp() -> None:
    pdf = report_pdf()
    _pages, text, metadata = _pdf_text_and_metadata(pdf)
    assert WANG.chinese_name in text and WANG.national_id in text
    assert WANG.chinese_name in metadata["Title"]
    assert any(OTHER_ID.encode() in stream for stream in _inflated_streams(pdf))
    assert OTHER_ID.encode() not in pdf  # the XMP is only readable once inflated


def test_encapsulated_pdf_comes_out_with_no_identifier_in_any_layer_and_keeps_its_pages() -> None:
    source = encapsulated(report_pdf())
    original_uids = collect_uids(pydicom.dcmread(io.BytesIO(source)))
    data, result = _run(source)

    assert verify(data, result.known, original_uids=original_uids) == []
    assert _leaks(data) == []
    out = pydicom.dcmread(io.BytesIO(data))
    pdf = bytes(out.EncapsulatedDocument)
    assert len(pdf) % 2 == 0 and out.EncapsulatedDocumentLength in (len(pdf), len(pdf) - 1)
    pdf = pdf[: out.EncapsulatedDocumentLength]
    assert out.MIMETypeOfEncapsulatedDocument == "application/pdf" and out.BurnedInAnnotation == "NO"
    pages, text, metadata = _pdf_text_and_metadata(pdf)
    assert pages == 2 and text == "" and not any(metadata.values())
    assert all(_leaks(stream) == [] for stream in _inflated_streams(pdf))
    # the findings line is still drawn (dark text on white), the name line is blacked out
    image = pdfium.PdfDocument(pdf)[0].render(scale=1).to_pil().convert("L")

    def dark_share(y: float, x0: int, x1: int) -> float:
        top = int(PAGE_HEIGHT - y - 10)
        band = image.crop((x0, top, x1, top + 12))
        return sum(band.histogram()[:64]) / (band.width * band.height)

    assert 0.02 < dark_share(FINDINGS_Y, 72, 300) < 0.5
    assert dark_share(NAME_Y, 110, 140) > 0.8

    # header: the table's rules apply to the document's attributes too
    assert out.PatientID == "PSEUDO1" and out.SOPClassUID == ENCAPSULATED_PDF_STORAGE
    assert WANG.chinese_name not in str(out.DocumentTitle) and "胸部CT报告" in str(out.DocumentTitle)
    assert WANG.national_id not in str(out.ConceptNameCodeSequence[0].CodeMeaning)
    assert str(out.SOPInstanceUID) not in original_uids


def test_record_notes_the_pdf_rebuild_without_values() -> None:
    _data, result = _run(encapsulated(report_pdf()))
    record = result.record
    actions = {action.path: action for action in record.actions}
    assert actions["(0042,0011)"].reason.startswith("encapsulated-pdf-rebuilt: 2 pages")
    assert actions["(0042,0011)"].table_code == "D"
    assert {"(0042,0015)", "(0042,0012)", "(0028,0301)"} <= actions.keys()
    serialized = json.dumps(record.as_dict(), ensure_ascii=False)
    assert not any(form in serialized for form in FORMS)


def test_identifiers_harvested_from_the_header_are_redacted_from_the_pdf() -> None:
    # the caller knows nothing: the name, MRN and phone come from the header, the other ID from its pattern
    data, result = _run(encapsulated(report_pdf()), KnownIdentifiers())
    assert verify(data, result.known) == []
    assert _leaks(data) == []


@pytest.mark.parametrize(
    ("layers", "found_by"),
    [
        ({"text": True, "info": False, "xmp": False}, "pdf-text"),  # CID glyph codes: only PDFium reads them
        ({"text": False, "info": True, "xmp": False}, ""),  # plain Info strings: the raw byte scan sees them
        ({"text": False, "info": False, "xmp": True}, "pdf-stream"),  # compressed: only once inflated
    ],
    ids=["text-layer", "info", "compressed-xmp"],
)
def test_verify_finds_identifiers_left_in_an_encapsulated_pdf(layers: dict[str, bool], found_by: str) -> None:
    """A bypassed object (header cleaned, original PDF put back) is refused whichever layer names the patient."""
    data, result = _run(encapsulated(report_pdf()))
    bypassed = pydicom.dcmread(io.BytesIO(data))
    leaking = report_pdf(**layers)
    bypassed.EncapsulatedDocument = leaking + b"\x00" if len(leaking) % 2 else leaking
    bypassed.EncapsulatedDocumentLength = len(leaking)
    findings = verify(bypassed, result.known)
    assert any(f.encoding.startswith(found_by) for f in findings)
    assert findings and {f.path for f in findings} == {"(0042,0011)"}


def test_verify_reports_an_unreadable_pdf_as_residue() -> None:
    data, result = _run(encapsulated(report_pdf()))
    bypassed = pydicom.dcmread(io.BytesIO(data))
    bypassed.EncapsulatedDocument = b"%PDF-1.7\n1 0 obj garbage\n"
    findings = verify(bypassed, result.known)
    assert [(f.path, f.kind) for f in findings] == [("(0042,0011)", "pdf-unreadable")]


@pytest.mark.parametrize(
    ("document", "code"),
    [(b"%PDF-1.4\n1 0 obj << broken", "report-pdf-unreadable"), (b"MZ not a pdf at all", "report-not-pdf")],
)
def test_corrupt_pdf_payload_is_refused_with_a_typed_reason(document: bytes, code: str) -> None:
    with pytest.raises(RejectedInstance) as refused:
        _run(encapsulated(document))
    assert refused.value.code == code


def test_cda_and_other_encapsulated_documents_are_refused() -> None:
    cda = encapsulated(
        b"<ClinicalDocument>" + WANG.chinese_name.encode() + b"</ClinicalDocument>",
        sop_class=ENCAPSULATED_CDA_STORAGE,
        mime="text/xml",
    )
    with pytest.raises(RejectedInstance) as refused:
        _run(cda)
    assert refused.value.code == "encapsulated-cda"
    with pytest.raises(RejectedInstance) as mislabeled:
        _run(encapsulated(report_pdf(), mime="text/plain"))
    assert mislabeled.value.code == "encapsulated-mime-type"


def test_cli_run_writes_the_encapsulated_pdf_and_refuses_the_corrupt_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in"
    source.mkdir()
    (source / f"{WANG.national_id}-report.dcm").write_bytes(encapsulated(report_pdf()))
    (source / "broken.dcm").write_bytes(encapsulated(b"%PDF-1.4\n1 0 obj << broken"))
    keys = tmp_path / "keys.json"
    keys.write_text(json.dumps({"uid_key": "cli-uid-key-0123456789", "pseudonym_key": "cli-pseudonym-key-0123456789"}))
    out = tmp_path / "out"
    assert main(["run", str(source), str(out), "--keys", str(keys)]) == 1
    printed = capsys.readouterr().out
    assert "done: 1" in printed and "report-pdf-unreadable: 1" in printed
    files = list(out.rglob("*.dcm"))
    assert len(files) == 1
    assert _leaks(files[0].read_bytes()) == []
    assert not list(out.rglob(".partial-*"))
