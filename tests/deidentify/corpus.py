"""A synthetic corpus for de-identification tests: Chinese patients with identifiers planted everywhere.

Every object is built with pydicom, serialized and parsed again, so tests see what a reader would see
(raw elements, declared character sets). Identifiers are planted in the header, free text, nested sequences,
private tags (also UTF-16 bytes in a private OB), overlays, the icon image, UIDs that embed ID digits, and the
file meta (Source Application Entity Title).
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass

import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from deidentify import KnownIdentifiers
from deidentify.national_id import check_character

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SECONDARY_CAPTURE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_SR_STORAGE = "1.2.840.10008.5.1.4.1.1.88.33"
ROOT = "1.2.156.112536"


def national_id(area: str, birth: str, sequence: str) -> str:
    """A synthetic resident ID with a valid ISO 7064 MOD 11-2 check character."""
    first17 = area + birth + sequence
    return first17 + check_character(first17)


@dataclass(frozen=True)
class Person:
    chinese_name: str  # "王小东"
    pinyin: str  # "Wang^XiaoDong"
    family: str  # "王"
    given: str  # "小东"
    national_id: str
    mrn: str
    ehc: str
    mobile: str
    address: str

    @property
    def pn(self) -> str:
        return f"{self.pinyin}={self.family}^{self.given}"

    def known(self) -> KnownIdentifiers:
        return KnownIdentifiers(
            names=(self.chinese_name, self.pinyin),
            ids=(self.national_id, self.mrn, self.ehc),
            phones=(self.mobile,),
            addresses=(self.address,),
        )

    def byte_forms(self) -> list[str]:
        """Canonical forms a leak would show (for independent byte searches)."""
        family_pinyin, given_pinyin = self.pinyin.split("^")
        return [
            self.chinese_name,
            self.given,
            self.family + self.given,
            family_pinyin + given_pinyin,
            given_pinyin,
            self.national_id,
            self.mrn,
            self.ehc,
            self.mobile,
            self.address,
        ]


WANG = Person(
    chinese_name="王小东",
    pinyin="Wang^XiaoDong",
    family="王",
    given="小东",
    national_id=national_id("110101", "19900307", "425"),
    mrn="ZY20240017",
    ehc="EHC4403058812",
    mobile="13812345678",
    address="北京市朝阳区建国路88号院3号楼",
)
OUYANG = Person(
    chinese_name="欧阳娜娜",
    pinyin="Ouyang^Nana",
    family="欧阳",
    given="娜娜",
    national_id=national_id("440305", "20010612", "118"),
    mrn="MZ0098812",
    ehc="EHC4403057701",
    mobile="15987654321",
    address="深圳市南山区科技园南路12号",
)


def full_width(text: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def _code(value: str, meaning: str, scheme: str = "DCM") -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _file(dataset: Dataset, sop_class: str, charset: str) -> Dataset:
    """Serialize with file meta (and an identifying preamble and source AE title), then parse again."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.SourceApplicationEntityTitle = "ZY_PACS_WANG"
    dataset.SpecificCharacterSet = charset
    file_dataset = FileDataset("corpus", dataset, file_meta=meta, preamble=b"WANG-XIAODONG".ljust(128, b"\x00"))
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, file_dataset, enforce_file_format=True)
    return pydicom.dcmread(io.BytesIO(buffer.getvalue()))


def serialize(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def _uid(person: Person, *parts: int) -> str:
    digits = person.national_id[:17]  # UIDs that embed ID digits (seen in the wild)
    return ".".join([ROOT, digits, *(str(p) for p in parts)])


def ct_series(person: Person, *, charset: str = "GB18030", slices: int = 3, study: int = 1) -> list[Dataset]:
    """A CT series whose slices reference each other, with identifiers planted everywhere."""
    study_uid = _uid(person, study)
    series_uid = _uid(person, study, 2)
    frame_uid = _uid(person, study, 3)
    sop_uids = [_uid(person, study, 2, n + 1) for n in range(slices)]
    rng = random.Random(7)
    out: list[Dataset] = []
    for index, sop_uid in enumerate(sop_uids):
        ds = Dataset()
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop_uid
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_uid
        ds.Modality = "CT"
        ds.PatientName = person.pn
        ds.PatientID = person.mrn
        ds.IssuerOfPatientID = "北京朝阳医院"
        ds.PatientBirthDate = person.national_id[6:14]
        ds.PatientSex = "M"
        ds.PatientAge = "034Y"
        ds.PatientAddress = person.address
        ds.PatientTelephoneNumbers = person.mobile
        ds.OtherPatientIDsSequence = Sequence([_other_id(person.national_id), _other_id(person.ehc)])
        ds.AccessionNumber = "A" + person.mrn[-6:]
        ds.StudyID = "S" + person.mrn[-4:]
        ds.StudyDate = "20240315"
        ds.StudyTime = "101500"
        ds.SeriesDate = "20240315"
        ds.ContentDate = "20240315"
        ds.InstitutionName = "北京朝阳医院"
        ds.ReferringPhysicianName = "Li^Ming=李^明"
        ds.OperatorsName = "Zhao^Lei=赵^磊"
        ds.StudyDescription = f"胸部CT平扫 {person.chinese_name}"
        ds.SeriesDescription = f"Chest 1.25mm {person.pinyin.replace('^', ' ').upper()}"
        ds.ImageComments = (
            f"身份证 {full_width(person.national_id)} 电话 {person.mobile[:3]}-{person.mobile[3:7]}-{person.mobile[7:]}"
        )
        ds.PatientComments = f"MRN {person.mrn}; EHC {person.ehc}; 住址 {person.address}"
        ds.AdditionalPatientHistory = f"{person.family}先生 主诉咳嗽; email wang.xd@example.com"
        request = Dataset()
        request.RequestedProcedureDescription = f"CT chest for {person.chinese_name}"
        request.RequestedProcedureID = person.mrn
        request.ReasonForTheRequestedProcedure = f"随访 {person.given}"
        ds.RequestAttributesSequence = Sequence([request])
        ds.ProcedureCodeSequence = Sequence([_code("CTCHEST", f"CT chest {person.pinyin}", "99LOCAL")])
        ref_study = Dataset()
        ref_study.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        ref_study.ReferencedSOPInstanceUID = study_uid
        ds.ReferencedStudySequence = Sequence([ref_study])
        others = [uid for uid in sop_uids if uid != sop_uid]
        ds.ReferencedImageSequence = Sequence([_ref_image(uid) for uid in others])
        source = _ref_image(sop_uids[0])
        source.PurposeOfReferenceCodeSequence = Sequence([_code("121322", f"Source of {person.chinese_name}")])
        ds.SourceImageSequence = Sequence([source])
        ds.ImagePositionPatient = [-125.0, -125.0, -10.0 + 1.25 * index]
        ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        ds.PixelSpacing = [0.488281, 0.488281]
        ds.SliceThickness = "1.25"
        ds.InstanceNumber = index + 1
        ds.Rows = 8
        ds.Columns = 8
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = 16
        ds.BitsStored = 12
        ds.HighBit = 11
        ds.PixelRepresentation = 0
        ds.BurnedInAnnotation = "NO"
        ds.PixelData = bytes(rng.randrange(0, 200) for _ in range(128))
        ds.add_new(0x60000010, "US", 8)
        ds.add_new(0x60000011, "US", 8)
        ds.add_new(0x60000040, "CS", "G")
        ds.add_new(0x60000050, "SS", [1, 1])
        ds.add_new(0x60000100, "US", 1)
        ds.add_new(0x60000102, "US", 0)
        ds.add_new(0x60000022, "LO", f"overlay of {person.chinese_name}")
        ds.add_new(0x60003000, "OW", bytes(8))
        icon = Dataset()
        icon.Rows = 2
        icon.Columns = 2
        icon.SamplesPerPixel = 1
        icon.PhotometricInterpretation = "MONOCHROME2"
        icon.BitsAllocated = 8
        icon.BitsStored = 8
        icon.HighBit = 7
        icon.PixelRepresentation = 0
        icon.PixelData = b"\x01\x02\x03\x04"
        ds.IconImageSequence = Sequence([icon])
        block = ds.private_block(0x0009, "ZY HOSPITAL", create=True)
        block.add_new(0x01, "LO", f"{person.chinese_name} {person.national_id}")
        block.add_new(0x02, "OB", person.chinese_name.encode("utf-16-le") + b"\x00\x00")
        private_item = Dataset()
        private_item.PatientName = person.pn
        block.add_new(0x03, "SQ", Sequence([private_item]))
        out.append(_file(ds, CT_IMAGE_STORAGE, charset))
    return out


def _other_id(value: str) -> Dataset:
    item = Dataset()
    item.PatientID = value
    item.TypeOfPatientID = "TEXT"
    return item


def _ref_image(sop_uid: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = CT_IMAGE_STORAGE
    item.ReferencedSOPInstanceUID = sop_uid
    return item


def _content(value_type: str, relationship: str, meaning: str) -> Dataset:
    item = Dataset()
    item.RelationshipType = relationship
    item.ValueType = value_type
    item.ConceptNameCodeSequence = Sequence([_code("121071", meaning)])
    return item


def structured_report(person: Person, referenced: Dataset, *, charset: str = "ISO_IR 192") -> Dataset:
    """A Comprehensive SR whose findings mention the person two levels deep and reference an image."""
    ds = Dataset()
    ds.SOPClassUID = COMPREHENSIVE_SR_STORAGE
    ds.SOPInstanceUID = _uid(person, 1, 9, 1)
    ds.StudyInstanceUID = str(referenced.StudyInstanceUID)
    ds.SeriesInstanceUID = _uid(person, 1, 9)
    ds.Modality = "SR"
    ds.PatientName = person.pn
    ds.PatientID = person.mrn
    ds.ContentDate = "20240316"
    ds.ContentTime = "090000"
    ds.ValueType = "CONTAINER"
    ds.ContinuityOfContent = "SEPARATE"
    ds.ConceptNameCodeSequence = Sequence([_code("18748-4", "Diagnostic imaging report", "LN")])
    ds.CompletionFlag = "COMPLETE"
    ds.VerificationFlag = "VERIFIED"
    observer = Dataset()
    observer.VerifyingObserverName = "Li^Ming=李^明"
    observer.VerifyingOrganization = "北京朝阳医院"
    observer.VerificationDateTime = "20240316100000"
    observer.VerifyingObserverIdentificationCodeSequence = Sequence([_code("D123", "Dr Li Ming", "99LOCAL")])
    ds.VerifyingObserverSequence = Sequence([observer])
    finding = _content("TEXT", "CONTAINS", "Finding")
    finding.TextValue = f"右肺结节 5mm。患者{person.chinese_name}（身份证{person.national_id}，手机{person.mobile}）。"
    measurement = _content("NUM", "CONTAINS", "Diameter")
    value = Dataset()
    value.NumericValue = "5"
    value.MeasurementUnitsCodeSequence = Sequence([_code("mm", "millimeter", "UCUM")])
    measurement.MeasuredValueSequence = Sequence([value])
    image = _content("IMAGE", "INFERRED FROM", "Source image")
    image.ReferencedSOPSequence = Sequence([_ref_image(str(referenced.SOPInstanceUID))])
    measurement.ContentSequence = Sequence([image])
    section = _content("CONTAINER", "CONTAINS", "Findings")
    section.ContinuityOfContent = "SEPARATE"
    section.ContentSequence = Sequence([finding, measurement])
    person_item = _content("PNAME", "HAS OBS CONTEXT", "Person observer name")
    person_item.PersonName = "Li^Ming=李^明"
    ds.ContentSequence = Sequence([person_item, section])
    return _file(ds, COMPREHENSIVE_SR_STORAGE, charset)
