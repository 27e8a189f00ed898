"""Collect identifiers from an object's header before they are removed, so retained text can be scrubbed of them.

Every person name (any PN element at any depth: the patient, relatives, staff), the patient's and visit IDs,
telephone numbers and addresses. Values are read without touching bulk data (pixel data stays deferred).
"""

from __future__ import annotations

from collections.abc import Iterator

from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from deidentify.subjects import KnownIdentifiers

ID_TAGS = frozenset(
    {
        0x00100020,  # Patient ID
        0x00101000,  # Other Patient IDs
        0x00080050,  # Accession Number
        0x00101090,  # Medical Record Locator
        0x00380010,  # Admission ID
        0x00380060,  # Service Episode ID
        0x00401001,  # Requested Procedure ID
        0x00402016,  # Placer Order Number / Imaging Service Request
        0x00402017,  # Filler Order Number / Imaging Service Request
        0x00120040,  # Clinical Trial Subject ID
        0x00120042,  # Clinical Trial Subject Reading ID
    }
)
PHONE_TAGS = frozenset(
    {
        0x00102154,  # Patient's Telephone Numbers
        0x00401103,  # Person's Telephone Numbers
        0x00080094,  # Referring Physician's Telephone Numbers
    }
)
ADDRESS_TAGS = frozenset(
    {
        0x00101040,  # Patient's Address
        0x00401102,  # Person's Address
        0x00080092,  # Referring Physician's Address
    }
)
_PLACEHOLDERS = frozenset({"", "ANONYMOUS", "ANONYMIZED", "UNKNOWN", "NONE", "NULL", "N/A", "NA", "^", "^^^^"})


def element_vr(tag: int, raw: DataElement | RawDataElement) -> str:
    """The element's VR, from the data or (implicit VR) the dictionary; ``UN`` when unknown.

    An ambiguous dictionary VR ("OB or OW", "US or SS") gives its first choice: the value is only classified
    (text, binary, number), or replaced by a dummy valid for either.
    """
    vr = raw.VR
    if not vr:
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return "UN"
    return str(vr).split(" or ")[0]


def _strings(value: object) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, (MultiValue, list, tuple)):
        for item in value:
            yield from _strings(item)
        return
    if isinstance(value, PersonName):
        for group in (value.alphabetic, value.ideographic, value.phonetic):
            if group:
                yield group
        return
    if isinstance(value, bytes):
        return
    yield str(value)


def _useful(text: str) -> bool:
    stripped = text.strip().strip("^=").strip()
    return stripped.upper() not in _PLACEHOLDERS and len(stripped) >= 2


def harvest(dataset: Dataset) -> KnownIdentifiers:
    """Identifiers found anywhere in ``dataset`` (private groups excluded: they are removed wholesale)."""
    names: list[str] = []
    ids: list[str] = []
    phones: list[str] = []
    addresses: list[str] = []

    def visit(ds: Dataset) -> None:
        for tag, raw in list(ds.items()):
            if (tag >> 16) % 2 == 1:
                continue
            vr = element_vr(tag, raw)
            if vr == "SQ":
                for item in ds[tag].value or ():
                    visit(item)
                continue
            if vr == "PN":
                target = names
            elif tag in ID_TAGS:
                target = ids
            elif tag in PHONE_TAGS:
                target = phones
            elif tag in ADDRESS_TAGS:
                target = addresses
            else:
                continue
            target.extend(text for text in _strings(ds[tag].value) if _useful(text))

    visit(dataset)
    return KnownIdentifiers(names=tuple(names), ids=tuple(ids), phones=tuple(phones), addresses=tuple(addresses))
