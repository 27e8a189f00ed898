"""Stand-alone reports in the library: text and PDF come out without the person's identifiers in any layer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from deidentify import KnownIdentifiers, RejectedInstance
from deidentify.cli import main
from deidentify.reports import redact_pdf_report, scrub_text_report
from tests.deidentify.corpus import WANG

FINDINGS = "检查所见: 双肺纹理清晰, 未见明显结节。"
KNOWN = KnownIdentifiers(names=(WANG.chinese_name,), ids=(WANG.national_id,), phones=(WANG.mobile,))
#: what must not survive: the Chinese name, its pinyin (derived by the library, not given), the ID, the phone
FORMS = (WANG.chinese_name, "Wang Xiaodong", "WangXiaodong", WANG.national_id, WANG.mobile)


def _leaks(data: bytes) -> list[tuple[str, str]]:
    lowered = data.lower()
    return [
        (form, codec)
        for form in FORMS
        for codec in ("utf-8", "gb18030", "utf-16-be", "utf-16-le")
        if form.lower().encode(codec) in lowered
    ]


def _pdf() -> bytes:
    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4, invariant=True)
    pdf.setTitle(f"{WANG.chinese_name} 影像报告")
    pdf.setAuthor("Wang Xiaodong")
    pdf.setFont("STSong-Light", 12)
    pdf.drawString(72, 760, f"姓名: {WANG.chinese_name}  Wang Xiaodong")
    pdf.drawString(72, 740, f"身份证: {WANG.national_id}  电话: {WANG.mobile}")
    pdf.drawString(72, 700, FINDINGS)
    pdf.save()
    return buffer.getvalue()


def _page_text(data: bytes) -> str:
    document = pdfium.PdfDocument(data)
    try:
        return "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    finally:
        document.close()


@pytest.mark.parametrize("charset", ["gb18030", "gbk", "utf-8"])
def test_text_report_is_scrubbed_of_names_pinyin_and_ids_and_keeps_findings(charset: str) -> None:
    text = f"患者 {WANG.chinese_name} (WANG XIAODONG), 身份证 {WANG.national_id}, 电话 {WANG.mobile}\n{FINDINGS}\n"
    out = scrub_text_report(text.encode(charset), charset, KNOWN)
    assert _leaks(out) == []
    assert FINDINGS in out.decode("utf-8")


def test_text_report_in_an_unknown_charset_or_with_bad_bytes_is_refused() -> None:
    with pytest.raises(RejectedInstance) as unsupported:
        scrub_text_report(b"x", "shift_jis", KNOWN)
    assert unsupported.value.code == "unsupported-charset"
    with pytest.raises(RejectedInstance) as undecodable:
        scrub_text_report(WANG.chinese_name.encode("gbk"), "utf-8", KNOWN)
    assert undecodable.value.code == "report-text-undecodable"


def test_pdf_report_keeps_no_identifier_in_text_layer_metadata_or_bytes() -> None:
    source = _pdf()
    assert _leaks(source) or WANG.chinese_name in _page_text(source)  # precondition: the source carries them
    target = io.BytesIO()
    result = redact_pdf_report(source, target, KNOWN)
    out = target.getvalue()
    assert result.pages == 1 and result.boxes > 0
    assert _leaks(out) == []
    assert _page_text(out) == ""
    document = pdfium.PdfDocument(out)
    try:
        assert not any(document.get_metadata_dict().values())
    finally:
        document.close()


def test_cli_report_redacts_a_pdf_and_scrubs_a_text_report(tmp_path: Path) -> None:
    known = tmp_path / "known.json"
    known.write_text(json.dumps({"names": [WANG.chinese_name], "ids": [WANG.national_id], "phones": [WANG.mobile]}))
    (tmp_path / "in.pdf").write_bytes(_pdf())
    (tmp_path / "in.txt").write_bytes(f"{WANG.chinese_name}: {FINDINGS}".encode("gb18030"))
    assert main(["report", str(tmp_path / "in.pdf"), str(tmp_path / "out.pdf"), "--known-identifiers", str(known)]) == 0
    assert _leaks((tmp_path / "out.pdf").read_bytes()) == []
    args = ["report", str(tmp_path / "in.txt"), str(tmp_path / "out.txt"), "--known-identifiers", str(known)]
    assert main([*args, "--charset", "gb18030"]) == 0
    assert (tmp_path / "out.txt").read_text(encoding="utf-8") == f"***: {FINDINGS}"
    assert main([*args[:2], str(tmp_path / "refused.txt"), *args[3:]]) == 1  # GB18030 bytes read as UTF-8
    assert not (tmp_path / "refused.txt").exists()
