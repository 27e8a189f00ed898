"""Scrub a person's known identifiers and generic personal-data patterns out of retained text.

The known identifiers become one case-insensitive regular expression per set, built once (and cached) for the
set, in every plausible written form:

* names (any script): Chinese names with or without separators (``王小东``, ``王 小东``, ``王^小东``), the
  given name alone (two characters or more) and the surname with an honorific (``王先生``); alphabetic
  (pinyin, Latin, Cyrillic…) names in any case, with any or no separators between letters (``Wang^XiaoDong``,
  ``WANG XIAO DONG``, ``wangxiaodong``) and in any order of their parts (``Xiaodong Wang``), and the given
  name alone when it has four letters or more (alphabetic names shorter than four letters are not searched:
  they cannot be told from ordinary words);
* IDs (three characters or more): any single separator between characters (``110101 1990…``), full-width digits,
  an ``x`` check character in either case, without leading zeros, and the 15-digit form of an 18-digit ID;
* phone numbers: with or without ``+86``/``0086``, separators between digits, and a landline's local number;
* addresses: with flexible white space, and the part after the last administrative division (区, 县, 市…);
* the identifiers' bytes mis-decoded with a wrong character set (GB18030 or UTF-8 bytes read as Latin-1,
  UTF-8 bytes read as GB18030), so text under a mislabeled ``SpecificCharacterSet`` is scrubbed as well.

Matching runs on text with full-width ASCII folded to ASCII (same length), replacements are applied to the
original text. Replacement is ``***``: it keeps the sentence readable and cannot itself match anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from itertools import permutations

from deidentify.patterns import KNOWN_IDENTIFIER, find_generic, fold_width
from deidentify.subjects import KnownIdentifiers

REPLACEMENT = "***"
_LATIN_SEP = r"[\s\^,._'\-]{0,3}"
_CJK_SEP = r"[\s\^·・,]{0,2}"
_ID_SEP = r"[\s\-_./:]?"
_PHONE_SEP = r"[\s\-.()]{0,2}"
_HONORIFICS = "先生|女士|小姐|同志|老师|大夫|医生|阿姨|叔叔|某某|某"
_NAME_SPLIT = re.compile(r"[\s\^,，·・._\-]+")
_ADMIN_DIVISION = re.compile(r"(?:省|自治区|市|区|县|旗|州|盟)")
_MIN_ID_CHARS = 3
_MIN_LATIN_GIVEN = 4
_MIN_ALPHABETIC_NAME = 4


def _is_cjk(ch: str) -> bool:
    """Han ideographs, kana and Hangul: scripts written without spaces between a name's parts."""
    return (
        "\u3040" <= ch <= "\u30ff"
        or "\u3400" <= ch <= "\u9fff"
        or "\uac00" <= ch <= "\ud7af"
        or "\uf900" <= ch <= "\ufaff"
        or "\U00020000" <= ch <= "\U0003134f"
    )


_SEPARATORS = " \t\r\n\f\v^,._'-·・/:()+"
_SKELETON = str.maketrans("", "", _SEPARATORS)
_ASCII_SEPARATORS = "".join(ch for ch in _SEPARATORS if ch.isascii()).encode("ascii")

Pattern = tuple[str, str]
"""A regular-expression source and its skeleton: the literal any match must contain once separators go."""


def skeleton(text: str) -> str:
    """Width-folded, lower-cased ``text`` without separator characters (a cheap necessary-condition filter)."""
    return fold_width(text).lower().translate(_SKELETON)


def _latin_pattern(tokens: list[str]) -> Pattern:
    letters = [ch for token in tokens for ch in token]
    source = r"(?<![^\W\d_])" + _LATIN_SEP.join(re.escape(ch) for ch in letters) + r"(?![^\W\d_])"
    return source, skeleton("".join(letters))


def _orders(tokens: list[str]) -> list[list[str]]:
    if len(tokens) <= 3:
        return [list(order) for order in permutations(tokens)]
    return [tokens, tokens[::-1]]


def _cjk_pattern(chars: str, suffix: str = "") -> Pattern:
    return _CJK_SEP.join(re.escape(ch) for ch in chars) + suffix, skeleton(chars)


def _literal_pattern(text: str, gap: str) -> Pattern:
    return gap.join(re.escape(part) for part in text.split()), skeleton(text)


def _name_patterns(name: str) -> Iterator[Pattern]:
    for group in fold_width(name).split("="):
        tokens = [token for token in _NAME_SPLIT.split(group) if token]
        if not tokens:
            continue
        if all(token.isalpha() and not any(_is_cjk(ch) for ch in token) for token in tokens):
            if sum(len(token) for token in tokens) < _MIN_ALPHABETIC_NAME:
                continue  # "Li", "OB": too short to tell from ordinary text
            for order in _orders(tokens):
                yield _latin_pattern(order)
            given = "".join(tokens[1:])
            if len(given) >= _MIN_LATIN_GIVEN:
                yield _latin_pattern(tokens[1:])
            continue
        chars = "".join(tokens)
        if all(_is_cjk(ch) for ch in chars):
            yield _cjk_pattern(chars)
            if len(tokens) >= 2:
                splits = [(tokens[0], "".join(tokens[1:]))]
            elif len(chars) == 4:
                splits = [(chars[:1], chars[1:]), (chars[:2], chars[2:])]
            else:
                splits = [(chars[:1], chars[1:])]
            for family, given in splits:
                if len(given) >= 2:
                    yield _cjk_pattern(given)
                yield _cjk_pattern(family, f"(?:{_HONORIFICS})")
            continue
        yield _literal_pattern(group, r"\s*")
        given = " ".join(tokens[1:])
        if len(given.replace(" ", "")) >= 2:
            yield _literal_pattern(given, r"\s*")


def _id_patterns(identifier: str) -> Iterator[Pattern]:
    core = "".join(ch for ch in fold_width(identifier) if ch.isalnum())
    if len(core) < _MIN_ID_CHARS:
        return
    forms = {core}
    if core.isdigit() and core.startswith("0") and len(core.lstrip("0")) >= 4:
        forms.add(core.lstrip("0"))
    if len(core) == 18 and core[:17].isdigit():
        forms.add(core[:6] + core[8:17])
    for form in forms:
        before, after = (r"(?<![0-9])", r"(?![0-9])") if form.isdigit() else (r"(?<![0-9A-Za-z])", r"(?![0-9A-Za-z])")
        yield before + _ID_SEP.join(re.escape(ch) for ch in form) + after, skeleton(form)


def _phone_patterns(phone: str) -> Iterator[Pattern]:
    digits = "".join(ch for ch in fold_width(phone) if ch.isdigit())
    if digits.startswith("0086"):
        digits = digits[4:]
    elif digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if len(digits) < 5:
        return
    prefix = r"(?:(?:\+|00)?86[\s\-]?)?"
    forms = {digits}
    if digits.startswith("0") and len(digits) >= 10:
        forms.update({digits[-8:], digits[-7:]})
    for form in forms:
        yield r"(?<![0-9])" + prefix + _PHONE_SEP.join(form) + r"(?![0-9])", form
    if digits.startswith("0"):
        yield r"(?<![0-9])(?:\+|00)?86[\s\-]?" + _PHONE_SEP.join(digits[1:]) + r"(?![0-9])", "86" + digits[1:]


def _address_patterns(address: str) -> Iterator[Pattern]:
    folded = fold_width(address).strip()
    yield _literal_pattern(folded.replace(",", " "), r"[\s,]*")
    pieces = _ADMIN_DIVISION.split(folded)
    tail = pieces[-1].strip() if len(pieces) > 1 else ""
    if len(tail) >= 4:
        yield _literal_pattern(tail, r"\s*")


def _misdecoded(values: Iterable[str]) -> Iterator[Pattern]:
    """Literal patterns for the values' bytes decoded with a wrong character set."""
    for value in values:
        if value.isascii():
            continue
        for source, target in (("gb18030", "latin-1"), ("utf-8", "latin-1"), ("utf-8", "gb18030")):
            try:
                wrong = value.encode(source).decode(target)
            except (UnicodeEncodeError, UnicodeDecodeError):
                continue
            if wrong != value:
                folded = fold_width(wrong)
                yield re.escape(folded), skeleton(folded)


def known_patterns(known: KnownIdentifiers) -> list[Pattern]:
    """All patterns for ``known``: regular-expression source and skeleton literal."""
    patterns: list[Pattern] = []
    for name in known.names:
        patterns.extend(_name_patterns(name))
    for identifier in known.ids:
        patterns.extend(_id_patterns(identifier))
    for phone in known.phones:
        patterns.extend(_phone_patterns(phone))
    for address in known.addresses:
        patterns.extend(_address_patterns(address))
    patterns.extend(_misdecoded(known.names + known.addresses))
    unique = sorted(set(patterns), key=lambda p: (-len(p[0]), p))
    return [p for p in unique if p[0] and p[1]]


class Scrubber:
    """Finds and replaces one person's identifiers and generic patterns in text."""

    def __init__(self, known: KnownIdentifiers) -> None:
        patterns = known_patterns(known)
        forms = sorted({form for _, form in patterns}, key=len)
        minimal = [form for i, form in enumerate(forms) if not any(other in form for other in forms[:i])]
        ascii_forms = [form.encode("ascii") for form in minimal if form.isascii()]
        self._text_filter = re.compile("|".join(map(re.escape, minimal))) if minimal else None
        self._ascii_filter = re.compile(b"|".join(map(re.escape, ascii_forms))) if ascii_forms else None
        self._known: re.Pattern[str] | None = (
            re.compile("|".join(f"(?:{source})" for source, _ in patterns), re.IGNORECASE) if patterns else None
        )

    def _may_contain_known(self, text: str) -> bool:
        """Cheap necessary condition: some identifier's skeleton occurs in the (folded) text's skeleton."""
        if text.isascii():
            if self._ascii_filter is None:
                return False
            bare = text.encode("ascii").lower().translate(None, _ASCII_SEPARATORS)
            return self._ascii_filter.search(bare) is not None
        # ``text`` is already width-folded (see find_folded)
        return self._text_filter is not None and self._text_filter.search(text.lower().translate(_SKELETON)) is not None

    def find(self, text: str) -> list[tuple[int, int, str]]:
        """Spans ``(start, end, kind)`` of identifiers in ``text`` (possibly overlapping)."""
        return self.find_folded(fold_width(text))

    def find_folded(self, folded: str) -> list[tuple[int, int, str]]:
        """:meth:`find` for text already width-folded (or, like Latin-1-decoded bytes, without full-width)."""
        spans: list[tuple[int, int, str]] = []
        if self._known is not None and self._may_contain_known(folded):
            spans.extend(
                (m.start(), m.end(), KNOWN_IDENTIFIER) for m in self._known.finditer(folded) if m.end() > m.start()
            )
        spans.extend(find_generic(folded))
        return spans

    def scrub(self, text: str) -> tuple[str, int]:
        """``text`` with every found span replaced by ``***``, and the number of replacements."""
        if not text:
            return text, 0
        spans = sorted((start, end) for start, end, _ in self.find(text))
        if not spans:
            return text, 0
        merged: list[list[int]] = []
        for start, end in spans:
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        pieces: list[str] = []
        cursor = 0
        for start, end in merged:
            pieces.append(text[cursor:start])
            pieces.append(REPLACEMENT)
            cursor = end
        pieces.append(text[cursor:])
        return "".join(pieces), len(merged)


@lru_cache(maxsize=512)
def scrubber_for(known: KnownIdentifiers) -> Scrubber:
    """A cached :class:`Scrubber` (compiling the expression once per identifier set)."""
    return Scrubber(known)
