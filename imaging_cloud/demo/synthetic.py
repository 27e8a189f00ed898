"""Generate synthetic people and DICOM studies with pydicom: Chinese names, valid national IDs, real pixel data.

Everything here is invented: names are drawn from common characters, national IDs get a correct ISO 7064
MOD 11-2 check digit, pixel data is a smooth phantom with noise. Deterministic for a given seed.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    ExplicitVRLittleEndian,
    generate_uid,
)

from auth.national_id import check_digit

_SURNAMES = [
    ("王", "Wang"),
    ("李", "Li"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("赵", "Zhao"),
    ("黄", "Huang"),
    ("周", "Zhou"),
    ("吴", "Wu"),
]
_GIVEN = [
    ("小东", "XiaoDong"),
    ("秀英", "XiuYing"),
    ("建国", "JianGuo"),
    ("丽华", "LiHua"),
    ("志强", "ZhiQiang"),
    ("桂兰", "GuiLan"),
    ("晓明", "XiaoMing"),
    ("玉梅", "YuMei"),
    ("海涛", "HaiTao"),
    ("静", "Jing"),
]
_AREAS = ["140105", "140106", "140202", "140402", "140581", "140702", "141002"]  # Shanxi-style area codes

CT_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.2")
MR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.4")
CR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1")
US_MULTIFRAME_STORAGE = UID("1.2.840.10008.5.1.4.1.1.3.1")


@dataclass(frozen=True)
class SyntheticPatient:
    national_id: str
    name_zh: str
    name_pinyin: str
    """DICOM PN form, ``Family^Given``."""
    sex: str
    birth_date: dt.date
    health_card: str
    phone: str

    @property
    def dicom_name(self) -> str:
        return f"{self.name_pinyin}={self.name_zh.replace(' ', '')}"


def national_id(rng: random.Random, birth: dt.date, sex: str) -> str:
    sequence = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)
    first17 = f"{rng.choice(_AREAS)}{birth:%Y%m%d}{sequence:03d}"
    return first17 + check_digit(first17)


def make_patient(rng: random.Random) -> SyntheticPatient:
    surname, given = rng.choice(_SURNAMES), rng.choice(_GIVEN)
    sex = rng.choice("MF")
    birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 75))
    return SyntheticPatient(
        national_id=national_id(rng, birth, sex),
        name_zh=surname[0] + given[0],
        name_pinyin=f"{surname[1]}^{given[1]}",
        sex=sex,
        birth_date=birth,
        health_card="EHC" + "".join(rng.choice("0123456789") for _ in range(16)),
        phone="1" + rng.choice("3456789") + "".join(rng.choice("0123456789") for _ in range(9)),
    )


@dataclass(frozen=True)
class StudySpec:
    modality: str
    body_part: str
    description: str
    instances: int
    rows: int = 512
    columns: int = 512
    frames: int = 1


def _phantom(rng: np.random.Generator, rows: int, columns: int, slice_index: int) -> np.ndarray:
    yy, xx = np.mgrid[0:rows, 0:columns]
    cy, cx = rows / 2, columns / 2
    radius = min(rows, columns) * (0.38 + 0.02 * np.sin(slice_index / 5))
    body = ((yy - cy) ** 2 + (xx - cx) ** 2) < radius**2
    organ = ((yy - cy * 0.9) ** 2 / 0.6 + (xx - cx * 1.2) ** 2) < (radius * 0.35) ** 2
    image = np.where(body, 1040, 24) + np.where(organ, 60, 0)
    noise = rng.normal(0, 12, size=(rows, columns))
    return np.clip(image + noise, 0, 4095).astype(np.uint16)


def _base_dataset(
    patient: SyntheticPatient,
    sop_class: UID,
    study_uid: str,
    series_uid: str,
    *,
    patient_id: str,
    issuer: str,
    institution: str,
    study_date: dt.date,
    accession: str,
) -> Dataset:
    meta = FileMetaDataset()
    sop_uid = generate_uid()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.PatientName = patient.dicom_name
    ds.PatientID = patient_id
    ds.IssuerOfPatientID = issuer
    ds.PatientBirthDate = f"{patient.birth_date:%Y%m%d}"
    ds.PatientSex = patient.sex
    ds.PatientAge = f"{min(999, (study_date - patient.birth_date).days // 365):03d}Y"
    ds.OtherPatientIDs = patient.national_id
    ds.PatientTelephoneNumbers = patient.phone
    ds.InstitutionName = institution
    ds.ReferringPhysicianName = "Zhao^Yisheng=赵^医生"
    ds.StudyDate = f"{study_date:%Y%m%d}"
    ds.StudyTime = "093000"
    ds.AccessionNumber = accession
    ds.StudyID = accession[-8:]
    ds.Manufacturer = "SyntheticScanner"
    return ds


def make_study(
    patient: SyntheticPatient,
    spec: StudySpec,
    *,
    patient_id: str,
    issuer: str = "",
    institution: str = "示例医院",
    study_date: dt.date | None = None,
    seed: int = 0,
    study_uid: str | None = None,
) -> Iterator[Dataset]:
    """One synthetic study of ``spec.instances`` instances; identifiers planted where hospitals put them."""
    rng = np.random.default_rng(seed)
    py_rng = random.Random(seed)  # noqa: S311 (synthetic test data, not security)
    study_date = study_date or dt.date(2025, 1, 1) + dt.timedelta(days=py_rng.randrange(0, 600))
    study_uid = study_uid or generate_uid()
    series_uid = generate_uid()
    frame_of_reference = generate_uid()
    accession = f"A{py_rng.randrange(10**9, 10**10)}"
    sop_class = {
        "CT": CT_IMAGE_STORAGE,
        "MR": MR_IMAGE_STORAGE,
        "CR": CR_IMAGE_STORAGE,
        "US": US_MULTIFRAME_STORAGE,
    }[spec.modality]
    for index in range(spec.instances):
        ds = _base_dataset(
            patient,
            sop_class,
            study_uid,
            series_uid,
            patient_id=patient_id,
            issuer=issuer,
            institution=institution,
            study_date=study_date,
            accession=accession,
        )
        ds.Modality = spec.modality
        ds.BodyPartExamined = spec.body_part
        ds.StudyDescription = spec.description
        ds.SeriesDescription = f"{spec.description} {spec.modality}"
        ds.SeriesNumber = 1
        ds.InstanceNumber = index + 1
        ds.FrameOfReferenceUID = frame_of_reference
        ds.Rows, ds.Columns = spec.rows, spec.columns
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        if spec.modality in ("CT", "MR"):
            ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
            ds.SliceThickness = "5"
            ds.PixelSpacing = ["0.7", "0.7"]
            ds.ImagePositionPatient = ["-180", "-180", str(-5 * index)]
            ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
            ds.SliceLocation = str(-5 * index)
        if spec.modality == "CT":
            ds.RescaleIntercept, ds.RescaleSlope = "-1024", "1"
            ds.WindowCenter, ds.WindowWidth = "40", "400"
        else:
            ds.WindowCenter, ds.WindowWidth = "1000", "600"
        if spec.modality == "US":
            ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
            ds.WindowCenter, ds.WindowWidth = "128", "256"  # 8-bit data: the full range
            ds.NumberOfFrames = spec.frames
            ds.FrameTime = "33.3"
            ds.BurnedInAnnotation = "NO"
            frames = np.stack(
                [(_phantom(rng, spec.rows, spec.columns, f) // 16).astype(np.uint8) for f in range(spec.frames)]
            )
            ds.PixelData = frames.tobytes()
        else:
            ds.PixelData = _phantom(rng, spec.rows, spec.columns, index).tobytes()
        yield ds


def to_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
