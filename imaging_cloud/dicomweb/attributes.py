"""Which attributes belong to the study, series and instance levels, and their DICOM JSON form.

Ingest stores these JSON fragments in the index so QIDO-RS and ``/metadata`` answer without opening objects.
"""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset
from pydicom.tag import Tag

#: PS3.18 Table 10.6.1-5 default study attributes, plus the ones the portals show.
STUDY_KEYWORDS = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "InstanceAvailability",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
)
#: PS3.18 Table 10.6.1-5 default series attributes.
SERIES_KEYWORDS = (
    "Modality",
    "SeriesDescription",
    "SeriesNumber",
    "SeriesInstanceUID",
    "BodyPartExamined",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
    "SeriesDate",
    "SeriesTime",
)
#: PS3.18 Table 10.6.1-5 default instance attributes.
INSTANCE_KEYWORDS = (
    "SOPClassUID",
    "SOPInstanceUID",
    "InstanceAvailability",
    "InstanceNumber",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
)

#: Values longer than this (bytes) are bulk data: not kept in the index, served by URI from the object.
BULK_DATA_THRESHOLD = 1024


def dataset_json(ds: Dataset) -> dict[str, Any]:
    """DICOM JSON of ``ds`` without bulk data (pixel data and large binary values are left out)."""
    full = ds.to_json_dict(bulk_data_threshold=BULK_DATA_THRESHOLD, bulk_data_element_handler=lambda _e: "")
    return {
        tag: value
        for tag, value in full.items()
        if "BulkDataURI" not in value and not int(tag[:4], 16) % 2 and value.get("vr") not in _BINARY_VRS
    }


_BINARY_VRS = frozenset({"OB", "OW", "OF", "OD", "OL", "OV", "UN"})


def level_json(full: dict[str, Any], keywords: tuple[str, ...]) -> dict[str, Any]:
    """The subset of a DICOM JSON object holding ``keywords``."""
    tags = [f"{int(Tag(k)):08X}" for k in keywords]
    return {t: full[t] for t in tags if t in full}
