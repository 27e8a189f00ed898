"""Keyed UID remapping: ``2.25.<int>`` from HMAC-SHA256, identical wherever the same UID appears.

Well-known UIDs defined by the standard (SOP Classes, Transfer Syntaxes, well-known frames of reference,
coding schemes… everything in pydicom's UID dictionary or under the DICOM root ``1.2.840.10008.``) name
things, not instances, and are returned unchanged.
"""

from __future__ import annotations

from pydicom._uid_dict import UID_dictionary
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from deidentify.keys import keyed_digest

UID_LABEL = b"deidentify/uid/v1\x00"
DICOM_ROOT = "1.2.840.10008."
_WELL_KNOWN: frozenset[str] = frozenset(UID_dictionary)
IMPLEMENTATION_CLASS_UID = 0x00020012
#: UIDs of these attributes name coding schemes and mapping resources defined outside any object (Coding
#: Scheme UID, Context UID, Mapping Resource UID): they are kept as they are, like well-known UIDs
STANDARD_REFERENCE_UID_TAGS = frozenset({0x0008010C, 0x00080117, 0x00080118})
#: UIDs that name things rather than instances: never remapped, never residue
NON_INSTANCE_UID_TAGS = STANDARD_REFERENCE_UID_TAGS | {IMPLEMENTATION_CLASS_UID}


def is_well_known_uid(uid: str) -> bool:
    """True for UIDs the standard defines (kept as they are by de-identification)."""
    value = uid.strip().rstrip("\x00")
    return value in _WELL_KNOWN or value.startswith(DICOM_ROOT)


def is_storage_sop_class(uid: str) -> bool:
    """True for a storage SOP Class that pydicom's dictionary knows."""
    entry = UID_dictionary.get(uid.strip().rstrip("\x00"))
    return entry is not None and entry[1] == "SOP Class" and "Storage" in entry[0]


def remap_uid(uid: str, uid_key: bytes) -> str:
    """Map ``uid`` to ``2.25.<int>`` (at most 44 characters) with a keyed hash; well-known UIDs unchanged.

    Deterministic: the same UID and key give the same result in every file and process. Trailing padding
    (space or NUL) is ignored.
    """
    value = uid.strip().rstrip("\x00")
    if not value or is_well_known_uid(value):
        return value
    if not uid_key:
        raise ValueError("uid_key must not be empty")
    digest = keyed_digest(uid_key, UID_LABEL, value)
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def collect_uids(dataset: Dataset) -> set[str]:
    """Every UID value (VR UI) at any depth of ``dataset`` and its file meta, read without touching bulk data.

    UIDs that name things rather than instances are left out (the Implementation Class UID names the writing
    software; coding scheme, context and mapping resource UIDs name external standards).

    Pass the result as ``original_uids`` to :func:`deidentify.verify` (collect before de-identifying: it works
    in place).
    """
    found: set[str] = set()

    def visit(ds: Dataset) -> None:
        for tag, raw in list(ds.items()):
            vr = raw.VR
            if not vr:
                try:
                    vr = dictionary_VR(tag)
                except KeyError:
                    continue
            if vr == "SQ":
                for item in ds[tag].value or ():
                    visit(item)
            elif vr == "UI" and tag not in NON_INSTANCE_UID_TAGS:
                value = ds[tag].value
                values = value if isinstance(value, MultiValue) else [value]
                found.update(str(v).strip().rstrip("\x00") for v in values if v)

    meta = getattr(dataset, "file_meta", None)
    if meta is not None:
        visit(meta)
    visit(dataset)
    return found
