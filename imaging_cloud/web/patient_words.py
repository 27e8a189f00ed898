"""DICOM codes a patient cannot read, in words: modalities (``CT``, ``MR``…) and body parts (``CHEST``…).

The codes stay the study's own (the API answers them as stored); these are only how a page says them. A code not
listed is shown as it is rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from imaging_cloud.web.i18n import N_

MODALITY_NAMES: dict[str, str] = {
    "CT": N_("CT scan"),
    "MR": N_("MRI"),
    "CR": N_("X-ray (CR)"),
    "DX": N_("X-ray (DR)"),
    "US": N_("Ultrasound"),
    "MG": N_("Mammography"),
    "NM": N_("Nuclear medicine"),
    "PT": N_("PET scan"),
    "XA": N_("Angiography"),
    "RF": N_("Fluoroscopy"),
    "ES": N_("Endoscopy"),
    "OP": N_("Eye photography"),
    "SR": N_("Structured report"),
    "DOC": N_("Document"),
    "OT": N_("Other imaging"),
}
"""DICOM Modality (0008,0060) values patients meet."""

BODY_PART_NAMES: dict[str, str] = {
    "HEAD": N_("Head"),
    "BRAIN": N_("The brain"),
    "SKULL": N_("Skull"),
    "NECK": N_("Neck"),
    "HEADNECK": N_("Head and neck"),
    "CHEST": N_("Chest"),
    "BREAST": N_("Breast"),
    "HEART": N_("Heart"),
    "ABDOMEN": N_("Abdomen"),
    "LIVER": N_("Liver"),
    "KIDNEY": N_("Kidney"),
    "PELVIS": N_("Pelvis"),
    "ABDOMENPELVIS": N_("Abdomen and pelvis"),
    "CHESTABDOMEN": N_("Chest and abdomen"),
    "SPINE": N_("Spine"),
    "CSPINE": N_("Cervical spine"),
    "TSPINE": N_("Thoracic spine"),
    "LSPINE": N_("Lumbar spine"),
    "SHOULDER": N_("Shoulder"),
    "ELBOW": N_("Elbow"),
    "WRIST": N_("Wrist"),
    "HAND": N_("Hand"),
    "HIP": N_("Hip"),
    "KNEE": N_("Knee"),
    "ANKLE": N_("Ankle"),
    "FOOT": N_("Foot"),
    "EXTREMITY": N_("Limbs"),
    "WHOLEBODY": N_("Whole body"),
}
"""DICOM BodyPartExamined (0018,0015) values (PS3.16 Annex L) patients meet most."""


def _named(codes: Iterable[str], names: dict[str, str], gettext: Callable[[str], str]) -> list[str]:
    return [gettext(names[code.upper()]) if code.upper() in names else code for code in codes]


def modality_names(codes: Iterable[str], gettext: Callable[[str], str]) -> list[str]:
    return _named(codes, MODALITY_NAMES, gettext)


def body_part_names(codes: Iterable[str], gettext: Callable[[str], str]) -> list[str]:
    return _named(codes, BODY_PART_NAMES, gettext)


def with_names(study: dict[str, Any], gettext: Callable[[str], str]) -> dict[str, Any]:
    """A timeline entry with its modalities and body parts also in words (``modality_names``, ``body_part_names``)."""
    return {
        **study,
        "modality_names": modality_names(study.get("modalities", []), gettext),
        "body_part_names": body_part_names(study.get("body_parts", []), gettext),
    }
