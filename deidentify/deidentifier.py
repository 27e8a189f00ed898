"""Apply a profile to one DICOM object: every element at every depth, UIDs, file meta, markers, character set.

Order of work:

1. refuse what cannot be handled safely (missing identifying UIDs → :class:`MalformedInput`; unknown SOP class,
   ``BurnedInAnnotation`` YES without Clean Pixel Data, overlays embedded in pixel data, encapsulated
   documents other than PDF → :class:`RejectedInstance`);
2. re-decode text whose bytes are not in the declared character set (:mod:`deidentify.charsets`), then
   harvest identifiers from the header (names, IDs, phones, addresses) and merge them with the caller's;
3. an Encapsulated PDF is rebuilt image-only with every known identifier blacked out
   (:mod:`deidentify.encapsulated`), or refused; the rebuilt document replaces the original after step 4;
4. Clean Pixel Data (when the profile has it): objects at risk of burned-in text (:mod:`deidentify.pixel_risk`)
   are searched with OCR and the text blacked out (:mod:`deidentify.pixels`), or refused with
   ``pixel-check-impossible``; other objects' pixel data is never read or decoded;
5. walk the dataset applying the profile's rule to each element;
6. set PatientID to the pseudonym, the de-identification markers, new file meta, a zeroed preamble and the
   output character set (ISO_IR 192 when non-ASCII text remains).

Semantics beyond the table, chosen to be safe without PS3.3 IOD Type tables:

* every retained text element (K, C, or not listed in the table) is scrubbed of identifiers;
* every UID is remapped (keyed, consistent) unless well-known; with Retain UIDs a UID is still remapped if it
  embeds a known identifier; coding-scheme/context/mapping-resource UIDs name standards and are kept;
* D on a sequence keeps its items but replaces every unlisted text value inside with a dummy ("dummy mode");
  Z on a sequence empties it; C, K and U on a sequence process its items;
* C on binary data (curves, overlays) cannot be done without OCR: the data is removed; overlay groups are
  removed whole (an overlay plane without its data is meaningless);
* private attributes are removed; under Retain Safe Private those of the Table E.3.10-1 allowlist
  (:mod:`deidentify.safe_private`: group, private creator, element byte and VR all matching) are kept, text
  values scrubbed, and so are the private creator elements of the blocks they are in;
* elements of unknown VR (UN) that the table does not list are removed (their content cannot be inspected);
* person names (PN) the table does not list get a dummy value.

The dataset is modified in place and returned in :class:`Result`; after an error it is in an unspecified state
and must be discarded.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import cache
from typing import cast

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.sr._concepts_dict import concepts
from pydicom.tag import BaseTag
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, UID, ExplicitVRLittleEndian
from pydicom.valuerep import PersonName

from deidentify.charsets import repair_charsets
from deidentify.dates import DateShifter
from deidentify.dummies import TEXT_DUMMY, dummy_value
from deidentify.encapsulated import RebuiltPdf, has_pdf_to_rebuild, rebuild_pdf, store_pdf
from deidentify.errors import DeidentificationError, MalformedInput, RejectedInstance
from deidentify.harvest import element_vr, harvest
from deidentify.keys import Keys
from deidentify.ocr import TextDetector, default_detector
from deidentify.pixel_risk import CLEAN_PIXEL_DATA, CLEAN_PIXEL_DATA_CODE, pixel_check_reason
from deidentify.pixels import PIXEL_CHECK_IMPOSSIBLE, PixelCleaning, clean_pixel_data
from deidentify.profiles import Profile, Rule
from deidentify.records import SET, ActionRecord, RecordBuilder
from deidentify.safe_private import safe_private
from deidentify.scrubbing import Scrubber, scrubber_for
from deidentify.subjects import KnownIdentifiers, Subject
from deidentify.table import ActionCode, Option, format_tag, is_curve_group, is_overlay_group, load_table
from deidentify.uids import STANDARD_REFERENCE_UID_TAGS, is_storage_sop_class, remap_uid

logger = logging.getLogger(__name__)

TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR"})
BINARY_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN", "OB or OW", "US or OW"})
MAX_LENGTH = {"AE": 16, "CS": 16, "LO": 64, "SH": 16, "ST": 1024, "LT": 10240, "PN": 64}
UTF8_CHARSET = "ISO_IR 192"
IMPLEMENTATION_VERSION_NAME = "DEIDENTIFY_1"

SPECIFIC_CHARACTER_SET = 0x00080005
PATIENT_ID = 0x00100020
PATIENT_IDENTITY_REMOVED = 0x00120062
DEIDENTIFICATION_METHOD = 0x00120063
DEIDENTIFICATION_METHOD_CODE_SEQUENCE = 0x00120064
LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED = 0x00280303
BURNED_IN_ANNOTATION = 0x00280301
PHOTOMETRIC_INTERPRETATION = 0x00280004
PIXEL_DATA = 0x7FE00010
TRANSFER_SYNTAX_UID = 0x00020010
RGB = "RGB"
ENCAPSULATED_DOCUMENT = 0x00420011
ENCAPSULATED_DOCUMENT_LENGTH = 0x00420015
MIME_TYPE_OF_ENCAPSULATED_DOCUMENT = 0x00420012
MARKER_TAGS = frozenset(
    {
        SPECIFIC_CHARACTER_SET,
        PATIENT_IDENTITY_REMOVED,
        DEIDENTIFICATION_METHOD,
        DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
    }
)
REQUIRED_UIDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID")

#: CID 7050 code values (DCM) for the options this package applies
OPTION_CODES: dict[Option, str] = {
    Option.RETAIN_SAFE_PRIVATE: "113111",
    Option.RETAIN_UIDS: "113110",
    Option.RETAIN_DEVICE_IDENTITY: "113109",
    Option.RETAIN_INSTITUTION_IDENTITY: "113112",
    Option.RETAIN_PATIENT_CHARACTERISTICS: "113108",
    Option.RETAIN_LONGITUDINAL_FULL_DATES: "113106",
    Option.RETAIN_LONGITUDINAL_MODIFIED_DATES: "113107",
    Option.CLEAN_DESCRIPTORS: "113105",
    Option.CLEAN_STRUCTURED_CONTENT: "113104",
    Option.CLEAN_GRAPHICS: "113103",
}
BASIC_PROFILE_CODE = "113100"


@cache
def _code_meaning(value: str) -> str:
    """The DCM code meaning from pydicom's concept dictionary (CID 7050 entries)."""
    scheme = cast(dict[str, dict[str, tuple[str, list[int]]]], concepts["DCM"])
    for entries in scheme.values():
        if value in entries:
            return entries[value][0]
    raise KeyError(value)


@dataclass(frozen=True)
class Result:
    """A de-identified dataset (safe to ``dcmwrite(..., enforce_file_format=True)``) and its record.

    ``known`` is the merged identifier set (the caller's plus those harvested from the header): pass it to
    :func:`deidentify.verify`. It holds PHI: never log or persist it.
    """

    dataset: Dataset
    record: ActionRecord
    known: KnownIdentifiers = field(default_factory=KnownIdentifiers, repr=False)


def _check_instance(dataset: Dataset, profile: Profile) -> bool:
    """Refuse what cannot be handled; True when the object is an Encapsulated PDF to rebuild."""
    for keyword in REQUIRED_UIDS:
        if not str(dataset.get(keyword, "") or "").strip():
            raise MalformedInput("missing-attribute", f"{keyword} is missing or empty")
    if not is_storage_sop_class(str(dataset.SOPClassUID)):
        raise RejectedInstance("unsupported-sop-class", "SOP Class UID is not a known storage SOP class")
    pdf = has_pdf_to_rebuild(dataset)
    burned_in = dataset.get(BURNED_IN_ANNOTATION)
    burned_in_yes = burned_in is not None and str(burned_in.value or "").strip().upper() == "YES"
    if burned_in_yes and profile.clean_pixel_data is None and not pdf:  # a PDF's pages are redacted when rebuilt
        raise RejectedInstance("burned-in-annotation", "BurnedInAnnotation is YES; the profile does not clean pixels")
    implicit, _little = dataset.original_encoding
    if implicit is False and any(isinstance(raw, RawDataElement) and raw.VR is None for raw in list(dataset.values())):
        raise MalformedInput("transfer-syntax-mismatch", "implicit VR elements under an explicit VR transfer syntax")
    groups = {tag >> 16 for tag in list(dataset.keys()) if is_overlay_group(tag >> 16)}
    for group in groups:
        has_rows = (group << 16 | 0x0010) in dataset
        has_data = (group << 16 | 0x3000) in dataset
        if has_rows and not has_data:
            raise RejectedInstance("embedded-overlay", f"overlay group {group:04X} is embedded in pixel data")
    return pdf


def _transfer_syntax(dataset: Dataset) -> str:
    meta = getattr(dataset, "file_meta", None)
    uid = str(meta.get("TransferSyntaxUID", "") or "") if meta is not None else ""
    if uid:
        return uid
    pixel = dataset.get_item(0x7FE00010, keep_deferred=True)
    value = getattr(pixel, "value", None)
    if isinstance(value, bytes) and value[:4] == b"\xfe\xff\x00\xe0":
        raise MalformedInput("missing-transfer-syntax", "encapsulated pixel data without a transfer syntax")
    return str(ExplicitVRLittleEndian)


class _Walker:
    """Applies a profile to a dataset tree; collects the record and whether non-ASCII text remains."""

    def __init__(
        self,
        profile: Profile,
        keys: Keys,
        scrubber: Scrubber,
        known: KnownIdentifiers,
        shifter: DateShifter | None,
        record: RecordBuilder,
    ) -> None:
        self.profile = profile
        self.keys = keys
        self.scrubber = scrubber
        self.known_ids = tuple("".join(ch for ch in i if ch.isalnum()) for i in known.ids)
        self.shifter = shifter
        self.record = record
        self.retain_uids = Option.RETAIN_UIDS in profile.options
        self.retain_safe_private = Option.RETAIN_SAFE_PRIVATE in profile.options
        self.non_ascii = False
        self.items_with_charset: list[Dataset] = []

    # -- traversal ------------------------------------------------------------------------------------------

    def walk(self, ds: Dataset, prefix: str, dummy_mode: bool) -> None:
        nested = bool(prefix)
        if nested and SPECIFIC_CHARACTER_SET in ds:
            self.items_with_charset.append(ds)
        creators = _private_creators(ds) if self.retain_safe_private else {}
        kept_blocks: set[tuple[int, int]] = set()
        for tag, raw in list(ds.items()):
            path = prefix + format_tag(tag)
            group, element = tag >> 16, tag & 0xFFFF
            if element == 0 or group == 0x0002:
                del ds[tag]
                self.record.add(path, ActionCode.REMOVE, "group-length" if element == 0 else "file-meta-in-dataset")
                continue
            if tag in MARKER_TAGS and (not nested or tag == SPECIFIC_CHARACTER_SET):
                continue  # set in _finalize
            vr = element_vr(tag, raw)
            if is_overlay_group(group) or is_curve_group(group):
                self._graphics(ds, tag, vr, path)
                continue
            rule = self.profile.rule_for(tag)
            if rule is None:
                self._unlisted(ds, tag, vr, path, dummy_mode)
            elif group % 2 == 1:
                if tag in creators:
                    continue  # kept or removed below, with the elements of its block
                if self.retain_safe_private and self._safe_private(ds, tag, vr, path, rule, creators):
                    kept_blocks.add((group, element >> 8))
                    continue
                del ds[tag]
                reason = "private" if rule.action == ActionCode.REMOVE else "private: not in the safe-private allowlist"
                self.record.add(path, ActionCode.REMOVE, reason, rule.table_code)
            else:
                self._apply(ds, tag, vr, rule, path)
        for creator_tag in creators:
            path = prefix + format_tag(creator_tag)
            if (creator_tag >> 16, creator_tag & 0xFF) in kept_blocks:
                self.record.add(path, ActionCode.KEEP, "private creator of retained safe private attributes")
            else:
                del ds[creator_tag]
                self.record.add(path, ActionCode.REMOVE, "private creator")

    def _safe_private(self, ds: Dataset, tag: int, vr: str, path: str, rule: Rule, creators: dict[int, str]) -> bool:
        """Keep ``tag`` if the allowlist names it under its block's private creator; False to remove it."""
        group, element = tag >> 16, tag & 0xFFFF
        if element < 0x1000:
            return False
        creator = creators.get(group << 16 | element >> 8)
        entry = safe_private(group, creator, element) if creator is not None else None
        if entry is None:
            return False
        if vr == "UN":  # implicit VR or written as UN: read the value as the allowlisted VR
            raw = ds.get_item(tag)
            if not isinstance(raw, RawDataElement):
                return False
            ds[tag] = raw._replace(VR=entry.vr)
            vr = entry.vr
        if vr != entry.vr:
            return False
        reason = f"{rule.reason}: Table E.3.10-1 safe private attribute"
        if vr in TEXT_VRS:
            self.record.add(path, ActionCode.CLEAN, reason, rule.table_code)
            self._scrub(ds, tag, vr, path)
        else:
            ds[tag].value  # noqa: B018 - decode now: a value that cannot be read as the allowlisted VR is refused
            self.record.add(path, ActionCode.KEEP, reason, rule.table_code)
        return True

    def _items(self, ds: Dataset, tag: int, path: str, dummy_mode: bool) -> None:
        for index, item in enumerate(ds[tag].value or ()):
            self.walk(item, f"{path}[{index}].", dummy_mode)

    # -- actions --------------------------------------------------------------------------------------------

    def _graphics(self, ds: Dataset, tag: int, vr: str, path: str) -> None:
        rule = self.profile.rule_for(tag if is_curve_group(tag >> 16) else (tag & 0xFFFF0000) | 0x3000)
        assert rule is not None
        if rule.action == ActionCode.KEEP:
            self._keep(ds, tag, vr, path, rule)
            return
        del ds[tag]
        reason = rule.reason if rule.action == ActionCode.REMOVE else f"{rule.reason}: graphics cannot be cleaned"
        self.record.add(path, ActionCode.REMOVE, reason, rule.table_code)

    def _apply(self, ds: Dataset, tag: int, vr: str, rule: Rule, path: str) -> None:
        action = rule.action
        if action == ActionCode.UID and vr not in ("UI", "SQ"):
            action = ActionCode.DUMMY
        if action == ActionCode.REMOVE:
            del ds[tag]
            self.record.add(path, action, rule.reason, rule.table_code)
        elif action == ActionCode.ZERO:
            ds[tag] = DataElement(tag, vr, Sequence() if vr == "SQ" else None)
            self.record.add(path, action, rule.reason, rule.table_code)
        elif action == ActionCode.DUMMY:
            self.record.add(path, action, rule.reason, rule.table_code)
            if vr == "SQ":
                self._items(ds, tag, path, dummy_mode=True)
            elif vr == "UI":
                self._remap(ds, tag)
            else:
                ds[tag] = DataElement(tag, vr, dummy_value(vr))
        elif action == ActionCode.KEEP:
            self._keep(ds, tag, vr, path, rule)
        elif action == ActionCode.CLEAN:
            self._clean(ds, tag, vr, path, rule)
        else:  # UID on UI or SQ
            self.record.add(path, action, rule.reason, rule.table_code)
            if vr == "SQ":
                self._items(ds, tag, path, dummy_mode=False)
            else:
                self._remap(ds, tag)

    def _keep(self, ds: Dataset, tag: int, vr: str, path: str, rule: Rule) -> None:
        self.record.add(path, ActionCode.KEEP, rule.reason, rule.table_code)
        if vr == "SQ":
            self._items(ds, tag, path, dummy_mode=False)
        elif vr == "UI":
            self._keep_uid(ds, tag, path)
        elif vr in TEXT_VRS:
            self._scrub(ds, tag, vr, path)

    def _clean(self, ds: Dataset, tag: int, vr: str, path: str, rule: Rule) -> None:
        if vr == "SQ":
            self.record.add(path, ActionCode.CLEAN, rule.reason, rule.table_code)
            self._items(ds, tag, path, dummy_mode=False)
        elif vr in TEXT_VRS:
            self.record.add(path, ActionCode.CLEAN, rule.reason, rule.table_code)
            self._scrub(ds, tag, vr, path)
        elif vr in ("DA", "DT"):
            self._shift(ds, tag, vr, path, rule)
        elif vr == "UI":
            self.record.add(path, ActionCode.UID, rule.reason, rule.table_code)
            self._remap(ds, tag)
        elif vr in BINARY_VRS:
            del ds[tag]
            self.record.add(path, ActionCode.REMOVE, f"{rule.reason}: binary value cannot be cleaned", rule.table_code)
        else:  # TM (whole-day shift keeps the time of day), numbers, AS
            self.record.add(path, ActionCode.CLEAN, f"{rule.reason}: value kept", rule.table_code)

    def _shift(self, ds: Dataset, tag: int, vr: str, path: str, rule: Rule) -> None:
        if self.shifter is None:
            ds[tag] = DataElement(tag, vr, dummy_value(vr))
            self.record.add(path, ActionCode.DUMMY, f"{rule.reason}: no date shift configured", rule.table_code)
            return
        elem = ds[tag]
        values = list(elem.value) if isinstance(elem.value, MultiValue) else [elem.value]
        shift = self.shifter.shift_da if vr == "DA" else self.shifter.shift_dt
        shifted = [shift(str(value or "")) for value in values]
        if any(value is None for value in shifted):
            ds[tag] = DataElement(tag, vr, dummy_value(vr))
            self.record.add(path, ActionCode.DUMMY, f"{rule.reason}: unparseable date", rule.table_code)
            return
        elem.value = shifted if len(shifted) > 1 else shifted[0]
        self.record.add(path, ActionCode.CLEAN, f"{rule.reason}: date shifted", rule.table_code)

    def _unlisted(self, ds: Dataset, tag: int, vr: str, path: str, dummy_mode: bool) -> None:
        if vr == "SQ":
            self.record.count("K-unlisted")
            self._items(ds, tag, path, dummy_mode)
        elif vr == "UI":
            if tag in STANDARD_REFERENCE_UID_TAGS:
                self.record.count("K-unlisted")
            elif self.retain_uids:
                self._keep_uid(ds, tag, path)
            else:
                self._remap(ds, tag)
                self.record.add(path, ActionCode.UID, "unlisted-uid")
        elif vr == "PN":
            ds[tag] = DataElement(tag, vr, TEXT_DUMMY)
            self.record.add(path, ActionCode.DUMMY, "unlisted-person-name")
        elif vr == "UN":
            del ds[tag]
            self.record.add(path, ActionCode.REMOVE, "unknown-vr")
        elif vr in TEXT_VRS:
            if dummy_mode and vr != "CS":
                ds[tag] = DataElement(tag, vr, dummy_value(vr))
                self.record.add(path, ActionCode.DUMMY, "in-dummy-sequence")
            else:
                self.record.count("K-unlisted")
                self._scrub(ds, tag, vr, path)
        else:
            self.record.count("K-unlisted")

    # -- values ---------------------------------------------------------------------------------------------

    def _remap(self, ds: Dataset, tag: int) -> None:
        elem = ds[tag]
        value = elem.value
        key = self.keys.uid_key
        if isinstance(value, MultiValue):
            elem.value = [remap_uid(str(v), key) for v in value]
        elif value:
            elem.value = remap_uid(str(value), key)

    def _keep_uid(self, ds: Dataset, tag: int, path: str) -> None:
        values = ds[tag].value
        texts = [str(v) for v in values] if isinstance(values, MultiValue) else [str(values or "")]
        digits = [t.replace(".", "") for t in texts]
        if any(known and len(known) >= 4 and known in d for known in self.known_ids for d in digits):
            self._remap(ds, tag)
            self.record.add(path, ActionCode.UID, "retained-uid-embeds-identifier")

    def _scrub(self, ds: Dataset, tag: int, vr: str, path: str) -> None:
        elem = ds[tag]
        value = elem.value
        if value is None or value == "":
            return
        if isinstance(value, bytes):
            del ds[tag]
            self.record.add(path, ActionCode.REMOVE, "undecodable-text")
            return
        values = list(value) if isinstance(value, MultiValue) else [value]
        changed = False
        out: list[object] = []
        limit = MAX_LENGTH.get(vr)
        for item in values:
            text = str(item)
            scrubbed, count = self.scrubber.scrub(text)
            if count:
                changed = True
                self.record.scrubbed += count
                if limit is not None and len(scrubbed) > limit:
                    scrubbed = scrubbed[:limit]
                out.append(PersonName(scrubbed) if vr == "PN" else scrubbed)
            else:
                out.append(item)
            if not self.non_ascii and not scrubbed.isascii():
                self.non_ascii = True
        if changed:
            elem.value = out if len(out) > 1 else out[0]
            self.record.add(path, ActionCode.CLEAN, "scrubbed-identifiers")


def _private_creators(ds: Dataset) -> dict[int, str]:
    """Private creator elements ``(gggg,00xx)`` of ``ds``: tag → creator (text values only)."""
    creators: dict[int, str] = {}
    for tag in list(ds.keys()):
        if (tag >> 16) % 2 == 1 and 0x0010 <= tag & 0xFFFF <= 0x00FF:
            value = ds[tag].value
            creators[tag] = value.decode("latin-1") if isinstance(value, bytes) else str(value or "")
    return creators


def _options_applied(profile: Profile, pixels: PixelCleaning | None = None) -> tuple[str, ...]:
    """The options in force for this object; Clean Pixel Data only when its pixels were actually searched."""
    applied = tuple(option.value for option in Option if option in profile.options and option in OPTION_CODES)
    return (*applied, CLEAN_PIXEL_DATA) if pixels is not None else applied


def _clean_pixels(
    dataset: Dataset, profile: Profile, transfer_syntax: str, detector: TextDetector | None
) -> PixelCleaning | None:
    """Run Clean Pixel Data on an object at risk of burned-in text; None when the step does not apply."""
    policy = profile.clean_pixel_data
    if policy is None:
        return None
    reason = pixel_check_reason(dataset, policy)
    if reason is None:
        return None
    try:
        return clean_pixel_data(
            dataset,
            transfer_syntax=transfer_syntax,
            policy=policy,
            detector=detector if detector is not None else default_detector(),
            reason=reason,
        )
    except DeidentificationError:
        raise
    except Exception as exc:  # decoding or array errors on odd pixel data: the object was not checked
        raise RejectedInstance(PIXEL_CHECK_IMPOSSIBLE, f"pixel data cannot be checked ({type(exc).__name__})") from None


def _rebuild_pdf(dataset: Dataset, known: KnownIdentifiers) -> RebuiltPdf:
    """The redacted Encapsulated PDF; the original document leaves the dataset so the walk never sees it."""
    try:
        rebuilt = rebuild_pdf(dataset, known)
    except DeidentificationError:
        raise
    except Exception as exc:  # rendering or image errors on an odd PDF: the document was not checked
        raise RejectedInstance("report-pdf-unreadable", f"the PDF cannot be redacted ({type(exc).__name__})") from None
    del dataset[ENCAPSULATED_DOCUMENT]
    return rebuilt


def _store_pdf(dataset: Dataset, rebuilt: RebuiltPdf, record: RecordBuilder) -> None:
    """Put the rebuilt PDF in and record it (counts only, never what was redacted)."""
    store_pdf(dataset, rebuilt)
    redaction = rebuilt.redaction
    detail = (
        f"encapsulated-pdf-rebuilt: {redaction.pages} pages as images without text layer or metadata, "
        f"{redaction.boxes} identifier boxes blacked out"
    )
    table_code = load_table().by_tag[ENCAPSULATED_DOCUMENT].basic_profile_action
    record.add(format_tag(ENCAPSULATED_DOCUMENT), ActionCode.CLEAN, detail, table_code)
    record.add(format_tag(ENCAPSULATED_DOCUMENT_LENGTH), SET, "encapsulated-pdf-rebuilt")
    record.add(format_tag(MIME_TYPE_OF_ENCAPSULATED_DOCUMENT), SET, "encapsulated-pdf-rebuilt")
    record.add(format_tag(BURNED_IN_ANNOTATION), SET, "encapsulated-pdf-rebuilt: identifiers blacked out")


def _record_pixels(record: RecordBuilder, pixels: PixelCleaning) -> None:
    """Counts only: how many text regions, frames and searched frames; never what the text said."""
    if pixels.regions:
        what = f"{pixels.regions} text regions blacked out in {pixels.frames} frames"
    else:
        what = f"no text found in {pixels.frames} frames"
    detail = f"clean-pixel-data ({pixels.reason}): {what}, {pixels.searched_frames} searched"
    record.add(format_tag(PIXEL_DATA), ActionCode.CLEAN, detail)
    record.add(format_tag(BURNED_IN_ANNOTATION), SET, "clean-pixel-data")
    if pixels.decoded_from is not None:
        record.add(format_tag(TRANSFER_SYNTAX_UID), SET, "clean-pixel-data: decoded to explicit VR little endian")
    if pixels.photometric_from is not None:
        record.add(format_tag(PHOTOMETRIC_INTERPRETATION), SET, f"clean-pixel-data: decoded to {RGB}")


def _method_code_item(value: str) -> Dataset:
    item = Dataset()
    item[0x00080100] = DataElement(0x00080100, "SH", value)
    item[0x00080102] = DataElement(0x00080102, "SH", "DCM")
    item[0x00080104] = DataElement(0x00080104, "LO", _code_meaning(value))
    return item


@cache
def _encoded_method_codes(codes: tuple[str, ...], implicit_vr: bool, little_endian: bool) -> bytes:
    """The encoded value of De-identification Method Code Sequence for ``codes``, built once per process.

    Writing six three-element items through pydicom costs as much as writing the rest of a CT header; the
    sequence is the same for every object of a profile, so it is encoded once and set as a raw element (which
    pydicom writes as it is, or parses when the value is read or the dataset is re-encoded).
    """
    holder = Dataset()
    holder[DEIDENTIFICATION_METHOD_CODE_SEQUENCE] = DataElement(
        DEIDENTIFICATION_METHOD_CODE_SEQUENCE, "SQ", Sequence([_method_code_item(code) for code in codes])
    )
    buffer = DicomBytesIO()
    buffer.is_implicit_VR, buffer.is_little_endian = implicit_vr, little_endian
    write_dataset(buffer, holder)
    header = 8 if implicit_vr else 12  # tag, (VR, reserved,) 32-bit length
    return buffer.getvalue()[header:]


def _method_code_element(codes: list[str], transfer_syntax: str) -> DataElement | RawDataElement:
    syntax = UID(transfer_syntax)
    if not syntax.is_transfer_syntax:  # a private syntax of unknown encoding: build the items
        items = Sequence([_method_code_item(code) for code in codes])
        return DataElement(DEIDENTIFICATION_METHOD_CODE_SEQUENCE, "SQ", items)
    implicit, little = syntax.is_implicit_VR, syntax.is_little_endian
    value = _encoded_method_codes(tuple(codes), implicit, little)
    return RawDataElement(BaseTag(DEIDENTIFICATION_METHOD_CODE_SEQUENCE), "SQ", len(value), value, 0, implicit, little)


def _finalize(
    dataset: Dataset,
    walker: _Walker,
    profile: Profile,
    subject: Subject,
    transfer_syntax: str,
    pixels: PixelCleaning | None,
) -> None:
    record = walker.record
    dataset[PATIENT_ID] = DataElement(PATIENT_ID, "LO", subject.pseudonym)
    record.add(format_tag(PATIENT_ID), SET, "pseudonym")
    dataset[PATIENT_IDENTITY_REMOVED] = DataElement(PATIENT_IDENTITY_REMOVED, "CS", "YES")
    method = f"deidentify {profile.name} (PS3.15 {load_table().edition} Annex E)"[:64]
    dataset[DEIDENTIFICATION_METHOD] = DataElement(DEIDENTIFICATION_METHOD, "LO", method)
    codes = [BASIC_PROFILE_CODE] + [OPTION_CODES[Option(o)] for o in _options_applied(profile)]
    if pixels is not None:
        codes.append(CLEAN_PIXEL_DATA_CODE)
    dataset[DEIDENTIFICATION_METHOD_CODE_SEQUENCE] = _method_code_element(codes, transfer_syntax)
    if Option.RETAIN_LONGITUDINAL_FULL_DATES in profile.options:
        temporal = "UNMODIFIED"
    elif Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in profile.options:
        temporal = "MODIFIED"
    else:
        temporal = "REMOVED"
    dataset[LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED] = DataElement(
        LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED, "CS", temporal
    )
    for tag in (PATIENT_IDENTITY_REMOVED, DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE):
        record.add(format_tag(tag), SET, "deidentification-marker")
    record.add(format_tag(LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED), SET, "deidentification-marker")

    for item in walker.items_with_charset:
        if SPECIFIC_CHARACTER_SET in item:
            del item[SPECIFIC_CHARACTER_SET]
    if walker.non_ascii:
        dataset[SPECIFIC_CHARACTER_SET] = DataElement(SPECIFIC_CHARACTER_SET, "CS", UTF8_CHARSET)
        record.add(format_tag(SPECIFIC_CHARACTER_SET), SET, "output-charset-utf8")
    elif SPECIFIC_CHARACTER_SET in dataset:
        del dataset[SPECIFIC_CHARACTER_SET]
        record.add(format_tag(SPECIFIC_CHARACTER_SET), ActionCode.REMOVE, "output-ascii-only")

    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    dataset.file_meta = meta
    record.add("(0002,0003)", ActionCode.UID, "file-meta-rebuilt")
    dataset.preamble = bytes(128)


def deidentify(
    dataset: Dataset,
    *,
    profile: Profile,
    keys: Keys,
    subject: Subject,
    text_detector: TextDetector | None = None,
) -> Result:
    """De-identify ``dataset`` in place with ``profile``; raise a :class:`DeidentificationError` to refuse.

    ``text_detector`` finds burned-in text for Clean Pixel Data; by default the process's shared RapidOCR
    detector, loaded on the first object that needs it.
    """
    shifter: DateShifter | None = None
    if Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in profile.options:
        if keys.date_shift_key is None or not subject.person_ref:
            raise ValueError(f"profile {profile.name} needs Keys.date_shift_key and Subject.person_ref")
        shifter = DateShifter(keys.date_shift_key, subject.person_ref)
    try:
        has_pdf = _check_instance(dataset, profile)
        transfer_syntax = _transfer_syntax(dataset)
        repaired: list[tuple[str, str]] = []
        repair_charsets(dataset, lambda path, codec: repaired.append((path, codec)))
        harvested = harvest(dataset)
    except DeidentificationError:
        raise
    except Exception as exc:  # pydicom raises many types for corrupt values
        raise MalformedInput("unreadable-header", type(exc).__name__) from None
    pixels = _clean_pixels(dataset, profile, transfer_syntax, text_detector)
    if pixels is not None:
        transfer_syntax = pixels.transfer_syntax
    known = subject.known.merged(harvested)
    rebuilt = _rebuild_pdf(dataset, known) if has_pdf else None
    record = RecordBuilder(profile=profile.name)
    record.harvested = len(harvested.names) + len(harvested.ids) + len(harvested.phones) + len(harvested.addresses)
    for path, codec in repaired:
        record.add(path, SET, f"mislabeled-charset: text decoded as {codec}")
    if pixels is not None:
        _record_pixels(record, pixels)
    walker = _Walker(profile, keys, scrubber_for(known), known, shifter, record)
    try:
        walker.walk(dataset, "", dummy_mode=False)
        if rebuilt is not None:
            _store_pdf(dataset, rebuilt, record)
        _finalize(dataset, walker, profile, subject, transfer_syntax, pixels)
    except DeidentificationError:
        raise
    except Exception as exc:  # a value pydicom cannot decode or re-encode
        logger.info("de-identification failed on a malformed element (%s)", type(exc).__name__)
        raise MalformedInput("unreadable-element", type(exc).__name__) from None
    return Result(dataset=dataset, record=record.build(_options_applied(profile, pixels)), known=known)
