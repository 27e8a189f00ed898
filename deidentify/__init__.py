"""deidentify: a pure library (and CLI) that de-identifies DICOM objects per PS3.15 Annex E, then verifies them.

Public API::

    Keys, KnownIdentifiers, Subject, make_pseudonym, remap_uid
    Profile, Option, ActionCode, CLINICAL_SHARING, RESEARCH, PROFILES, get_profile
    PixelPolicy (Profile.clean_pixel_data), pixel_check_reason(dataset, policy) -> str | None
    TextDetector (protocol), RapidOcrDetector, default_detector(), Box, TextLine  (offline OCR)
    load_profile(path) / profile_from_mapping(dict) -> Profile  (custom TOML profiles; ProfileError)
    deidentify(dataset, *, profile, keys, subject, text_detector=None) -> Result(dataset, record, known)
    verify(target, known, *, original_uids=()) -> list[Finding]
    DeidentificationError, RejectedInstance, MalformedInput

No web, no database, no environment variables, no logging configuration.
"""

from deidentify.custom_profiles import ProfileError, load_profile, profile_from_mapping
from deidentify.deidentifier import Result, deidentify
from deidentify.errors import DeidentificationError, MalformedInput, RejectedInstance
from deidentify.keys import Keys, make_pseudonym
from deidentify.ocr import Box, OcrUnavailable, RapidOcrDetector, TextDetector, TextLine, default_detector
from deidentify.pixel_risk import PixelPolicy, pixel_check_reason
from deidentify.profiles import CLINICAL_SHARING, PROFILES, RESEARCH, Profile, Rule, get_profile
from deidentify.records import ActionRecord, TagAction
from deidentify.scrubbing import Scrubber, scrubber_for
from deidentify.subjects import KnownIdentifiers, Subject
from deidentify.table import ActionCode, Option
from deidentify.uids import collect_uids, is_well_known_uid, remap_uid
from deidentify.verification import Finding, verify

__all__ = [
    "CLINICAL_SHARING",
    "PROFILES",
    "RESEARCH",
    "ActionCode",
    "ActionRecord",
    "Box",
    "DeidentificationError",
    "Finding",
    "Keys",
    "KnownIdentifiers",
    "MalformedInput",
    "OcrUnavailable",
    "Option",
    "PixelPolicy",
    "Profile",
    "ProfileError",
    "RapidOcrDetector",
    "RejectedInstance",
    "Result",
    "Rule",
    "Scrubber",
    "Subject",
    "TagAction",
    "TextDetector",
    "TextLine",
    "collect_uids",
    "default_detector",
    "deidentify",
    "get_profile",
    "is_well_known_uid",
    "load_profile",
    "make_pseudonym",
    "pixel_check_reason",
    "profile_from_mapping",
    "remap_uid",
    "scrubber_for",
    "verify",
]
