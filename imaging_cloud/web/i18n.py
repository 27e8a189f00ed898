"""Languages of the portals: gettext catalogs (Babel ``.po`` files), zh-CN by default, English by switch.

Message ids are English; ``locale/zh_CN/LC_MESSAGES/*.po`` holds one catalog per portal area (so work on one area
does not touch the others' file), merged at start-up. English needs no catalog: the ids are the text.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGES: dict[str, str] = {"zh_CN": "zh-CN", "en": "en"}
"""Language code (catalog folder) → the BCP 47 tag pages declare in ``<html lang>``."""
LANGUAGE_COOKIE = "ic_lang"


def N_(message: str) -> str:  # noqa: N802 (the gettext convention Babel's extractor looks for)
    """Marks a message id for the catalog where it is defined; it is translated where it is shown."""
    return message


def catalog_files(language: str) -> list[Path]:
    return sorted((LOCALE_DIR / language / "LC_MESSAGES").glob("*.po"))


@cache
def translations(language: str) -> gettext.NullTranslations:
    """The merged catalogs of ``language`` (English: the ids themselves)."""
    files = catalog_files(language)
    if not files:
        return gettext.NullTranslations()
    merged: Translations | None = None
    for path in files:
        with path.open("rb") as handle:
            catalog = read_po(handle, locale=language)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)  # fuzzy entries are left out, as msgfmt does
        compiled.seek(0)
        loaded = Translations(compiled, domain=path.stem)
        if merged is None:
            merged = loaded
        else:
            merged.merge(loaded)
    assert merged is not None
    return merged


def language_of(cookie: str | None) -> str:
    """The page language: the switch's cookie, else zh-CN (the service's people read Chinese first)."""
    if cookie in LANGUAGES:
        return cookie
    return DEFAULT_LANGUAGE
