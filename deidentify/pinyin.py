"""What a report is scrubbed of: the person's known identifiers, their pinyin spellings, and generic patterns.

The cloud holds a person's name in Chinese characters only, but a report written at a hospital often spells it
in pinyin as well (``Wang XiaoDong``). The pinyin forms are derived here with ``pypinyin`` (MIT), taking every
reading of characters with several (surnames such as 曾 Zeng/Ceng, 单 Shan/Dan), so that the de-identifier's
scrubber — which already matches any case, separator and order of a Latin name — finds them. Finding itself is
the ``deidentify`` scrubber's job: this module is a thin caller.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from pypinyin import Style, pinyin

from deidentify.scrubbing import Scrubber, scrubber_for
from deidentify.subjects import KnownIdentifiers

MAX_READINGS_PER_CHARACTER = 4
MAX_SPELLINGS_PER_NAME = 32


def _is_han(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\U00020000" <= ch <= "\U0003134f"


def pinyin_spellings(name: str) -> Iterator[str]:
    """Pinyin forms of a Chinese name as ``Family Given`` (e.g. ``Wang Xiaodong``), every reading combined.

    Both the one-character and (for names of three characters or more) the two-character family-name split are
    produced, so compound surnames (欧阳, 司马) come out right too. Non-Chinese names yield nothing.
    """
    chars = "".join(ch for ch in name if not ch.isspace() and ch not in "^=·・")
    if len(chars) < 2 or not all(_is_han(ch) for ch in chars):
        return
    readings = [
        list(dict.fromkeys(r.capitalize() for r in options))[:MAX_READINGS_PER_CHARACTER]
        for options in pinyin(chars, style=Style.NORMAL, heteronym=True, errors="ignore")
    ]
    if len(readings) != len(chars) or not all(readings):
        return
    seen: set[str] = set()
    splits = [1, 2] if len(chars) >= 3 else [1]
    for combination in itertools.islice(itertools.product(*readings), MAX_SPELLINGS_PER_NAME):
        for split in splits:
            spelling = "".join(combination[:split]) + " " + "".join(combination[split:])
            if spelling not in seen:
                seen.add(spelling)
                yield spelling


def with_pinyin(known: KnownIdentifiers) -> KnownIdentifiers:
    """``known`` plus the pinyin spellings of every Chinese name in it."""
    extra = tuple(spelling for name in known.names for spelling in pinyin_spellings(name))
    return known.merged(KnownIdentifiers(names=extra)) if extra else known


def report_scrubber(known: KnownIdentifiers) -> Scrubber:
    """The (cached) scrubber for a report of the person with identifiers ``known``."""
    return scrubber_for(with_pinyin(known))
