"""Find text whose bytes are not in the declared ``SpecificCharacterSet`` and decode it as what it really is.

Chinese modalities and PACS often write GBK/GB18030 bytes under ``ISO_IR 100`` (or no character set at all), or
UTF-8 under ``GB18030``. Decoded as declared, such text becomes mojibake: identifiers in it no longer look like
identifiers, and the output would carry the mojibake forward. Each non-ASCII text value is therefore decoded
under the declared character set and under UTF-8, GB18030 and Latin-1 (strictly: a candidate whose bytes are
invalid drops out), and the decoding whose characters look most like real text wins; the declared one wins
ties. "Looks like real text" is a score per non-ASCII character:

* 3 for common Chinese characters (those in GB2312, which holds every everyday hanzi) and CJK punctuation;
* 2 for letters of any script (``ü``, ``é``, kana, Hangul) and for rarer hanzi;
* 1 for common symbols (``°``, ``±``, ``µ``, ``²``…);
* 0 for control characters, private-use characters and other symbols — what mis-decoded bytes turn into.

A GB18030 reading replaces a valid declared reading only when it gives two hanzi or more (one two-byte
character is too weak a signal: ``ção`` in Latin-1 is also the GB2312 character ``玢`` and an ``o``).

GBK bytes read as Latin-1 give letters mixed with ``¡ ¶ «`` (mean below 3); UTF-8 bytes read as Latin-1 give C1
control characters; UTF-8 bytes read as GB18030 give rare hanzi or fail; Latin-1 text read as GB18030 fails or
gives rare hanzi. Values with ISO 2022 escape sequences are left to pydicom, which decodes them by the escapes.
"""

from __future__ import annotations

import codecs
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.valuerep import PersonName

from deidentify.harvest import element_vr

#: VRs whose values pydicom decodes with the Specific Character Set
CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
SINGLE_VALUED_VRS = frozenset({"LT", "ST", "UT"})
CANDIDATES = ("utf_8", "gb18030", "latin_1")
_ESCAPE = 0x1B
_COMMON_SYMBOLS = frozenset("°±µ·×÷§©®²³¹¼½¾–—‘’“”…")
_CJK_PUNCTUATION = (("\u3000", "\u303f"), ("\uff00", "\uffef"))
_RepairCallback = Callable[[str, str], None]
_BEST_SCORE = 3.0


@dataclass(frozen=True)
class Decoding:
    """The codec chosen for a value (Python codec name) and the text it gives."""

    codec: str
    text: str


@lru_cache(maxsize=65536)
def _char_score(ch: str) -> int:
    if any(low <= ch <= high for low, high in _CJK_PUNCTUATION):
        return 3
    if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f":
        try:
            ch.encode("gb2312")
        except UnicodeEncodeError:
            return 2
        return 3
    category = unicodedata.category(ch)
    if category.startswith("L"):
        return 2
    if ch in _COMMON_SYMBOLS or category in ("Zs", "Nd"):
        return 1
    return 0


def text_score(text: str) -> float:
    """Mean score of the non-ASCII characters of ``text`` (see the module docstring); 3.0 when all ASCII."""
    scores = [_char_score(ch) for ch in text if not ch.isascii()]
    return sum(scores) / len(scores) if scores else 3.0


def _strict(value: bytes, codec: str) -> str | None:
    try:
        return value.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def best_decoding(value: bytes, declared: str, candidates: Iterable[str] = CANDIDATES) -> Decoding:
    """The most plausible decoding of non-ASCII ``value``; ``declared`` (a Python codec) wins ties.

    When no codec decodes the bytes strictly, the declared one is used with replacement characters (which are
    removed later as unreadable text, never passed on as if they were understood).
    """
    best: Decoding | None = None
    best_score = -1.0
    declared_codec = codecs.lookup(declared).name
    order = [declared_codec, *(codecs.lookup(c).name for c in candidates if codecs.lookup(c).name != declared_codec)]
    for codec in order:
        text = _strict(value, codec)
        if text is None:
            continue
        score = text_score(text)
        if score > best_score:
            best, best_score = Decoding(codec, text), score
        if best_score >= _BEST_SCORE:  # nothing can read better (the common case: correctly labelled text)
            break
    if best is None:
        return Decoding(declared_codec, value.decode(declared_codec, errors="replace"))
    weak = sum(1 for ch in best.text if not ch.isascii()) < 2  # "ção" in Latin-1 is also GB2312 "玢" + "o"
    if weak and best.codec == "gb18030" != declared_codec and _strict(value, declared_codec) is not None:
        return Decoding(declared_codec, value.decode(declared_codec))
    return best


def _declared_codec(ds: Dataset) -> str | None:
    """The Python codec the dataset declares for text without escapes; None for ISO 2022 code extensions."""
    encodings = ds._character_set
    names = [encodings] if isinstance(encodings, str) else list(encodings)
    if len(names) != 1:
        return None
    try:
        return codecs.lookup(names[0]).name
    except LookupError:
        return None


def _value(text: str, vr: str) -> object:
    parts = [text] if vr in SINGLE_VALUED_VRS else text.split("\\")
    values: list[object] = [PersonName(part) if vr == "PN" else part for part in parts]
    return values if len(values) > 1 else values[0]


def repair_charsets(ds: Dataset, on_repair: _RepairCallback, prefix: str = "") -> int:
    """Re-decode, at every depth, text values whose bytes are in another character set than declared.

    Each repaired element holds decoded text afterwards (written in the output's character set, UTF-8);
    ``on_repair(path, codec)`` is called for it. Returns how many elements were repaired.
    """
    declared = _declared_codec(ds)
    repaired = 0
    for tag in list(ds.keys()):
        raw = ds.get_item(tag)
        if raw is None:
            continue
        vr = element_vr(tag, raw)
        if vr == "SQ":
            for index, item in enumerate(ds[tag].value or ()):
                repaired += repair_charsets(item, on_repair, f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})[{index}].")
            continue
        if declared is None or vr not in CHARSET_VRS or not isinstance(raw, RawDataElement):
            continue
        value = raw.value
        if not isinstance(value, bytes) or value.isascii() or _ESCAPE in value:
            continue
        decoding = best_decoding(value.rstrip(b"\x00 "), declared)
        if decoding.codec == declared:
            continue
        ds[tag] = DataElement(tag, vr, _value(decoding.text, vr))
        on_repair(f"{prefix}({tag >> 16:04X},{tag & 0xFFFF:04X})", decoding.codec)
        repaired += 1
    return repaired
