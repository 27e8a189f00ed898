"""Clean Pixel Data: the profile's policy and which objects are at risk of burned-in text.

PS3.15's Clean Pixel Data Option (CID 7050 code 113101) has no column in Table E.1-1: it is a property of the
profile (:class:`PixelPolicy`), not a per-attribute action.

An object is checked (decoded and searched for text) when it has pixel data and one of these holds:

* ``BurnedInAnnotation`` is present and not ``NO`` (the flag is trusted to say "yes", never to say "no" for
  the kinds of objects below);
* its Modality is one where consoles burn text in: ultrasound, X-ray angiography/fluoroscopy, computed and
  digital radiography, intra-oral/panoramic, endoscopy, photography, ophthalmic photography, microscopy
  photographs, "other" — plus the policy's ``extra_modalities``;
* its SOP Class is one of those kinds or a secondary capture (screenshots, dose pages, scanned paper), whatever
  Modality it claims.

Cross-sectional images (CT, MR, PT, NM, …) with the flag absent or ``NO`` are not checked: OCR costs ~0.2 s
per image and their consoles do not burn demographics in. The check is a few attribute reads, no pixel access.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.dataset import Dataset

#: the option name used in custom profile files and in :attr:`ActionRecord.options_applied`
CLEAN_PIXEL_DATA = "clean_pixel_data"
#: CID 7050 code for the option
CLEAN_PIXEL_DATA_CODE = "113101"

HIGH_RISK_MODALITIES = frozenset(
    {"US", "IVUS", "XA", "RF", "CR", "DX", "IO", "PX", "ES", "XC", "OP", "GM", "DMS", "OT"}
)

_STORAGE = "1.2.840.10008.5.1.4.1.1."
HIGH_RISK_SOP_CLASSES = frozenset(
    _STORAGE + suffix
    for suffix in (
        "1",  # Computed Radiography
        "1.1",  # Digital X-Ray, for presentation
        "1.1.1",  # Digital X-Ray, for processing
        "1.3",  # Digital Intra-Oral X-Ray, for presentation
        "1.3.1",  # Digital Intra-Oral X-Ray, for processing
        "3",  # Ultrasound Multi-frame (retired)
        "3.1",  # Ultrasound Multi-frame
        "6",  # Ultrasound (retired)
        "6.1",  # Ultrasound
        "7",  # Secondary Capture
        "7.1",  # Multi-frame Single Bit Secondary Capture
        "7.2",  # Multi-frame Grayscale Byte Secondary Capture
        "7.3",  # Multi-frame Grayscale Word Secondary Capture
        "7.4",  # Multi-frame True Color Secondary Capture
        "12.1",  # X-Ray Angiographic
        "12.1.1",  # Enhanced XA
        "12.2",  # X-Ray Radiofluoroscopic
        "12.2.1",  # Enhanced XRF
        "12.3",  # X-Ray Angiographic Bi-Plane (retired)
        "77.1.1",  # VL Endoscopic
        "77.1.1.1",  # Video Endoscopic
        "77.1.2",  # VL Microscopic
        "77.1.2.1",  # Video Microscopic
        "77.1.4",  # VL Photographic
        "77.1.4.1",  # Video Photographic
        "77.1.5.1",  # Ophthalmic Photography 8 Bit
        "77.1.5.2",  # Ophthalmic Photography 16 Bit
        "77.1.7",  # Dermoscopic Photography
    )
)

PIXEL_DATA = 0x7FE00010
FLOAT_PIXEL_DATA = 0x7FE00008
DOUBLE_FLOAT_PIXEL_DATA = 0x7FE00009
BURNED_IN_ANNOTATION = 0x00280301
MODALITY = 0x00080060
SOP_CLASS_UID = 0x00080016


@dataclass(frozen=True)
class PixelPolicy:
    """How Clean Pixel Data runs.

    ``extra_modalities`` are checked too (e.g. ``MG``); ``max_ocr_frames`` frames of a multi-frame object are
    searched for text, evenly spaced from the first to the last, and the union of what they show is blacked out
    in every frame (burned-in demographics are static overlays drawn by the console on every frame; text that
    appears only between the searched frames would be missed: raise the number for such sources);
    ``margin`` pixels are added around each detected text box.
    """

    extra_modalities: frozenset[str] = field(default_factory=frozenset)
    max_ocr_frames: int = 3
    margin: int = 3

    def __post_init__(self) -> None:
        modalities = frozenset(str(m).strip().upper() for m in self.extra_modalities)
        if any(not m or len(m) > 16 for m in modalities):
            raise ValueError("extra_modalities: each must be a Modality code of 1 to 16 characters")
        if self.max_ocr_frames < 1:
            raise ValueError("max_ocr_frames must be at least 1")
        if not 0 <= self.margin <= 64:
            raise ValueError("margin must be between 0 and 64 pixels")
        object.__setattr__(self, "extra_modalities", modalities)


def has_pixel_data(dataset: Dataset) -> bool:
    """Whether the object carries an image (integer or float pixel data)."""
    return PIXEL_DATA in dataset or FLOAT_PIXEL_DATA in dataset or DOUBLE_FLOAT_PIXEL_DATA in dataset


def pixel_check_reason(dataset: Dataset, policy: PixelPolicy) -> str | None:
    """Why ``dataset`` must be searched for burned-in text, or None when it need not be (no pixel access)."""
    if not has_pixel_data(dataset):
        return None
    flag = dataset.get(BURNED_IN_ANNOTATION)
    if flag is not None and str(flag.value or "").strip().upper() != "NO":
        return "burned-in-annotation-flag"
    modality_element = dataset.get(MODALITY)
    modality = str(modality_element.value or "").strip().upper() if modality_element is not None else ""
    if modality in HIGH_RISK_MODALITIES or modality in policy.extra_modalities:
        return f"modality-{modality.lower()}"
    sop_class = dataset.get(SOP_CLASS_UID)
    if sop_class is not None and str(sop_class.value or "").strip().rstrip("\x00") in HIGH_RISK_SOP_CLASSES:
        return "high-risk-sop-class"
    return None
