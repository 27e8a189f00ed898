"""Check a de-identified object for residue: known identifiers, generic personal-data patterns, original UIDs.

What is searched (the serialized object, as it would be stored):

* every text element's value, decoded with the declared character set, with the same expressions the scrubber
  uses (all written forms of the known identifiers, national-ID/phone/e-mail patterns); pure-ASCII values are
  searched with those expressions in the byte scan below (same result, without decoding each element);
* every UID element against the original UIDs (well-known standard UIDs and UIDs that name things rather
  than instances, such as the Implementation Class UID and coding scheme UIDs, are ignored);
* the raw bytes of the whole file (preamble, file meta, every element, private or not) for each known
  identifier and original UID encoded in UTF-8, GB18030, UTF-16-LE and UTF-16-BE, and for the generic patterns
  in ASCII. Pixel data is excluded from the byte scans: image samples are not text, and short numbers would
  match by chance;
* an Encapsulated PDF (:mod:`deidentify.pdf_text`): its text layer and Info metadata as PDFium reads them, and
  its Flate streams (XMP, object and content streams) inflated, with the scrubber's expressions and the byte
  patterns; a PDF that cannot be read is a finding (``pdf-unreadable``): what cannot be read cannot be cleared;
* every other element value holding non-ASCII bytes, decoded as UTF-8 and as GB18030 whatever the declared
  character set, with the scrubber's expressions: text whose bytes are mislabeled (GBK bytes under ``ISO_IR
  100``, UTF-8 under ``GB18030``) hides identifiers from a decoding with the declared character set.

Findings carry a tag path such as ``(0040,A730)[0].(0040,A160)`` (or ``<preamble>``, ``<file>``), a kind and how
it was found, never the value.
"""

from __future__ import annotations

import bisect
import io
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from deidentify.errors import MalformedInput
from deidentify.harvest import element_vr
from deidentify.patterns import KNOWN_IDENTIFIER, fold_width
from deidentify.pdf_text import STREAM, PdfUnreadable, is_pdf, read_pdf_content
from deidentify.scrubbing import Scrubber, scrubber_for
from deidentify.subjects import KnownIdentifiers
from deidentify.table import format_tag
from deidentify.uids import NON_INSTANCE_UID_TAGS, is_well_known_uid

ORIGINAL_UID = "original-uid"
PDF_UNREADABLE = "pdf-unreadable"
ENCAPSULATED_DOCUMENT = 0x00420011
NON_INSTANCE_UID_PATHS = tuple(format_tag(tag) for tag in sorted(NON_INSTANCE_UID_TAGS))
TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT", "UR", "UN"})
PIXEL_TAGS = frozenset({0x7FE00010, 0x7FE00008, 0x7FE00009})
BYTE_ENCODINGS = ("utf-8", "gb18030", "utf-16-le", "utf-16-be")
#: the character sets mislabeled text is most often really in (Latin-1 readings are searched in the byte scan)
PLAUSIBLE_CODECS = ("utf-8", "gb18030")
DECODED_TEXT_VRS = TEXT_VRS - {"UN"}
_MIN_FORM_BYTES = 3
_MIN_UID_BYTES = 8
_NAME_SPLIT = re.compile(r"[\s\^,._\-]+")
#: generic patterns are not reported in the byte scan inside these VRs: decimals, UIDs and dates are digit
#: runs by nature (text VRs are checked element by element, decoded)
NUMERIC_TEXT_VRS = frozenset({"DS", "IS", "UI", "DA", "DT", "TM", "AS"})


@dataclass(frozen=True, order=True)
class Finding:
    """Residue found in an object: where (tag path), what kind, and how (``text`` or a byte encoding)."""

    path: str
    kind: str
    encoding: str = ""


def _serialize(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    else:
        pydicom.dcmwrite(buffer, dataset, implicit_vr=False, little_endian=True)
    return buffer.getvalue()


def _literal_forms(known: KnownIdentifiers) -> set[str]:
    forms: set[str] = set()
    for name in known.names:
        for group in name.split("="):
            tokens = [t for t in _NAME_SPLIT.split(fold_width(group)) if t]
            if not tokens:
                continue
            forms.add(group.strip())
            for order in (tokens, tokens[::-1]):
                for joiner in ("", " ", "^"):
                    forms.add(joiner.join(order))
    for identifier in known.ids:
        forms.add(identifier.strip())
        forms.add("".join(ch for ch in fold_width(identifier) if ch.isalnum()))
    for phone in known.phones:
        digits = "".join(ch for ch in fold_width(phone) if ch.isdigit())
        forms.add(digits[2:] if digits.startswith("86") and len(digits) == 13 else digits)
    for address in known.addresses:
        forms.add(address.strip())
        forms.add("".join(address.split()))
    return {form for form in forms if len(form.encode("utf-8")) >= _MIN_FORM_BYTES}


@lru_cache(maxsize=256)
def _known_byte_patterns(known: KnownIdentifiers) -> list[tuple[re.Pattern[bytes], str, bytes]]:
    return _byte_patterns(_literal_forms(known))


def _byte_patterns(forms: Iterable[str]) -> list[tuple[re.Pattern[bytes], str, bytes]]:
    """Byte expressions per encoding; ASCII forms get the scrubber's boundaries (no match inside a longer
    number or word, e.g. a short MRN inside a long UID).

    Each comes with its literal, ASCII-lower-cased: a pattern can only match where the lower-cased literal
    occurs in the lower-cased bytes (``re.IGNORECASE`` on bytes folds ASCII letters only), so a fast
    ``in`` test skips the expressions that cannot match.
    """
    patterns: dict[bytes, tuple[bytes, str]] = {}
    for form in forms:
        for encoding in BYTE_ENCODINGS:
            try:
                encoded = form.encode(encoding)
            except UnicodeEncodeError:
                continue
            source = re.escape(encoded)
            if form.isascii() and encoding == "utf-8":
                first, last = form[0], form[-1]
                if first.isalnum():
                    source = (rb"(?<![0-9])" if first.isdigit() else rb"(?<![A-Za-z])") + source
                if last.isalnum():
                    source += rb"(?![0-9])" if last.isdigit() else rb"(?![A-Za-z])"
            patterns.setdefault(encoded, (source, encoding))
    return [
        (re.compile(source, re.IGNORECASE), encoding, encoded.lower())
        for encoded, (source, encoding) in patterns.items()
    ]


class _Layout:
    """Where each leaf element's value lies in the serialized bytes, for mapping byte offsets to tag paths."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, str, str]] = []
        self.pixel: list[tuple[int, int]] = []
        self.values: list[tuple[int, int, str, str]] = []

    def add(self, start: int, length: int, path: str, tag: int, vr: str) -> None:
        self.spans.append((start, start + length, path, vr))
        if tag in PIXEL_TAGS:
            self.pixel.append((start, start + length))
        else:
            self.values.append((start, start + length, path, vr))

    def finish(self) -> None:
        self.spans.sort()
        self.starts = [span[0] for span in self.spans]

    def locate(self, offset: int, preamble_end: int) -> tuple[str, str]:
        """The tag path and VR of the element whose value holds ``offset``."""
        if offset < preamble_end:
            return "<preamble>", ""
        index = bisect.bisect_right(self.starts, offset) - 1
        if index >= 0:
            start, end, path, vr = self.spans[index]
            if start <= offset < end:
                return path, vr
        return "<file>", ""

    def scan_regions(self, size: int) -> Iterator[tuple[int, int]]:
        """Byte ranges outside pixel data."""
        cursor = 0
        for start, end in sorted(self.pixel):
            if start > cursor:
                yield cursor, start
            cursor = max(cursor, end)
        if cursor < size:
            yield cursor, size


def _walk(
    ds: Dataset,
    prefix: str,
    base: int | None,
    layout: _Layout,
) -> Iterator[tuple[str, int, str, object]]:
    """Yield ``(path, tag, vr, value)`` for every leaf element; record value offsets in ``layout``."""
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if raw is None:
            continue
        path = prefix + format_tag(tag)
        vr = element_vr(tag, raw)
        tell = raw.value_tell if isinstance(raw, RawDataElement) else None
        if vr == "SQ":
            child_base = None if tell is None or base is None else base + tell
            for index, item in enumerate(ds[tag].value or ()):
                yield from _walk(item, f"{path}[{index}].", child_base, layout)
            continue
        if tell is not None and base is not None and isinstance(raw, RawDataElement) and raw.length:
            layout.add(base + tell, raw.length, path, tag, vr)
        if vr not in TEXT_VRS and vr != "UI":
            continue
        raw_value = raw.value if isinstance(raw, RawDataElement) else None
        if isinstance(raw_value, bytes) and raw_value.isascii():
            if vr == "UI":
                yield path, tag, vr, raw_value.decode("ascii").split("\\")
            # ASCII text is searched by the byte scan with the same expressions, attributed by offset
            continue
        yield path, tag, vr, ds[tag].value


def _texts(value: object) -> Iterator[str]:
    if value is None:
        return
    if isinstance(value, (MultiValue, list, tuple)):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, bytes):
        yield value.decode("latin-1")
    else:
        yield str(value)


def verify(
    target: Dataset | bytes,
    known: KnownIdentifiers,
    *,
    original_uids: Iterable[str] = (),
) -> list[Finding]:
    """Findings of residue in ``target`` (a dataset or serialized Part 10 bytes); empty when clean."""
    data = bytes(target) if isinstance(target, (bytes, bytearray, memoryview)) else _serialize(target)
    try:
        parsed = pydicom.dcmread(io.BytesIO(data), force=True)
    except Exception as exc:  # any parse failure of untrusted bytes
        raise MalformedInput("unparseable", type(exc).__name__) from None
    originals = {u.strip().rstrip("\x00") for u in original_uids}
    originals = {u for u in originals if u and not is_well_known_uid(u)}
    scrubber = scrubber_for(known)
    found: dict[tuple[str, str], Finding] = {}

    def add(path: str, kind: str, how: str) -> None:
        found.setdefault((path, kind), Finding(path, kind, how))

    layout = _Layout()
    datasets: list[tuple[Dataset, str]] = []
    meta = getattr(parsed, "file_meta", None)
    if meta is not None:
        datasets.append((meta, ""))
    datasets.append((parsed, ""))
    try:
        for ds, prefix in datasets:
            for path, _tag, vr, value in _walk(ds, prefix, 0, layout):
                for text in _texts(value):
                    if vr == "UI":
                        if _tag not in NON_INSTANCE_UID_TAGS and text.strip().rstrip("\x00") in originals:
                            add(path, ORIGINAL_UID, "text")
                        continue
                    for _start, _end, kind in scrubber.find(text):
                        add(path, kind, "text")
    except Exception as exc:  # undecodable values in untrusted bytes
        raise MalformedInput("undecodable-element", type(exc).__name__) from None
    layout.finish()

    preamble_end = 128 if data[128:132] == b"DICM" else 0
    byte_patterns = _known_byte_patterns(known)
    uid_patterns = [  # short or dotless "UIDs" (e.g. "0" in a broken file) would match everywhere in bytes
        re.compile(rb"(?<![0-9.])" + re.escape(uid.encode("ascii", "replace")) + rb"(?![0-9.])")
        for uid in originals
        if len(uid) >= _MIN_UID_BYTES and "." in uid
    ]
    for start, end in layout.scan_regions(len(data)):
        region = data[start:end]
        lowered = region.lower()
        for pattern, encoding, literal in byte_patterns:
            if literal not in lowered:
                continue
            for match in pattern.finditer(region):
                add(layout.locate(start + match.start(), preamble_end)[0], KNOWN_IDENTIFIER, encoding)
        for pattern in uid_patterns:
            for match in pattern.finditer(region):
                path = layout.locate(start + match.start(), preamble_end)[0]
                if not path.endswith(NON_INSTANCE_UID_PATHS):
                    add(path, ORIGINAL_UID, "ascii")
        text = region.decode("latin-1")  # no full-width characters exist below U+0100: no folding needed
        for span_start, _span_end, kind in scrubber.find_folded(text):
            path, vr = layout.locate(start + span_start, preamble_end)
            if kind == KNOWN_IDENTIFIER or vr not in NUMERIC_TEXT_VRS:
                add(path, kind, "ascii")
    _check_encapsulated_pdf(parsed, scrubber, byte_patterns, add)
    for start, end, path, vr in layout.values:
        value = data[start:end]
        if value.isascii():
            continue
        for codec in PLAUSIBLE_CODECS:
            for _start, _end, kind in scrubber.find(value.decode(codec, errors="replace")):
                if kind == KNOWN_IDENTIFIER or vr in DECODED_TEXT_VRS:  # binary values: generic patterns by chance
                    add(path, kind, codec)
    return sorted(found.values())


def _check_encapsulated_pdf(
    parsed: Dataset,
    scrubber: Scrubber,
    byte_patterns: list[tuple[re.Pattern[bytes], str, bytes]],
    add: Callable[[str, str, str], None],
) -> None:
    """Search an Encapsulated PDF's text layer, metadata and inflated streams (the raw bytes are scanned above)."""
    element = parsed.get(ENCAPSULATED_DOCUMENT)
    value = element.value if element is not None else None
    if not isinstance(value, bytes) or not is_pdf(value):
        return
    path = format_tag(ENCAPSULATED_DOCUMENT)
    try:
        content = read_pdf_content(value)
    except PdfUnreadable:
        add(path, PDF_UNREADABLE, "pdf")
        return
    for where, text in content.texts:
        for _start, _end, kind in scrubber.find(text):
            add(path, kind, where)
    for stream in content.streams:
        lowered = stream.lower()
        for pattern, encoding, literal in byte_patterns:
            if literal in lowered and pattern.search(stream):
                add(path, KNOWN_IDENTIFIER, f"{STREAM}-{encoding}")
        for codec in PLAUSIBLE_CODECS:
            for _start, _end, kind in scrubber.find(stream.decode(codec, errors="replace")):
                add(path, kind, f"{STREAM}-{codec}")
