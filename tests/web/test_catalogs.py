"""The portals speak zh-CN first: every message has a Chinese translation, and no template hard-codes text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from imaging_cloud.web.i18n import catalog_files, translations
from imaging_cloud.web.templating import TEMPLATES_DIR

WEB = TEMPLATES_DIR.parent
_METHODS = [("templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
_OPTIONS = {"templates/**.html": {"extensions": "jinja2.ext.i18n", "trimmed": "false"}}


def used_messages() -> dict[str, str]:
    """msgid → where it is used, from the templates and the portal's Python (Babel's own extractors)."""
    found: dict[str, str] = {}
    for filename, lineno, message, _comments, _context in extract_from_dir(
        str(WEB), method_map=_METHODS, options_map=_OPTIONS
    ):
        singular = message[0] if isinstance(message, tuple) else message
        found.setdefault(singular, f"{filename}:{lineno}")
    return found


def test_every_message_the_portals_use_has_a_chinese_translation() -> None:
    chinese = translations("zh_CN")
    used = used_messages()
    assert len(used) > 40
    missing = {msgid: where for msgid, where in used.items() if chinese.gettext(msgid) == msgid and msgid.strip()}
    allowed_identical = {"English"}  # the language switch names the other language in that language
    missing = {k: v for k, v in missing.items() if k not in allowed_identical}
    assert not missing, f"messages without a zh_CN translation: {missing}"


def test_the_catalogs_parse_agree_and_keep_their_placeholders() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for path in catalog_files("zh_CN"):
        with path.open("rb") as handle:
            catalog = read_po(handle, locale="zh_CN")
        problems = [(message.id, [str(e) for e in errors]) for message, errors in catalog.check()]
        assert not problems, f"{path.name}: {problems}"
        for message in catalog:
            if not message.id:
                continue
            msgid = message.id if isinstance(message.id, str) else message.id[0]
            text = message.string if isinstance(message.string, str) else message.string[0]
            assert not message.fuzzy, f"{path.name}: fuzzy entry {msgid!r}"
            previous = seen.setdefault(msgid, (path.name, text))
            assert previous[1] == text, f"{msgid!r} translated differently in {previous[0]} and {path.name}"
            for placeholder in re.findall(r"%\(\w+\)[sd]", msgid):
                assert placeholder in text, f"{path.name}: {msgid!r} lost {placeholder}"


class _VisibleText(HTMLParser):
    """Collects text a reader would see (data, and the attributes read aloud or shown) outside template code."""

    ATTRIBUTES = frozenset({"alt", "title", "placeholder", "aria-label", "data-confirm"})

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._skip += 1
        shown = set(self.ATTRIBUTES)
        if tag == "input" and dict(attrs).get("type") in {"submit", "button", "reset"}:
            shown.add("value")  # a button's label
        for name, value in attrs:
            if name in shown and value and _has_words(value):
                self.found.append(f"<{tag} {name}={value!r}>")

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and _has_words(data):
            self.found.append(data.strip())


def _has_words(text: str) -> bool:
    return re.search(r"[A-Za-z\u4e00-\u9fff]{2,}", text) is not None


def _without_template_code(source: str) -> str:
    source = re.sub(r"\{#.*?#\}", " ", source, flags=re.S)
    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", " ", source, flags=re.S)


def test_no_template_hard_codes_text_outside_gettext() -> None:
    offenders: dict[str, list[str]] = {}
    templates = sorted(TEMPLATES_DIR.rglob("*.html"))
    assert templates
    for path in templates:
        parser = _VisibleText()
        parser.feed(_without_template_code(path.read_text(encoding="utf-8")))
        if parser.found:
            offenders[str(path.relative_to(TEMPLATES_DIR))] = parser.found
    assert not offenders, f"visible text not going through gettext: {offenders}"


def test_page_titles_and_urls_carry_no_identifiers() -> None:
    """Titles are fixed translated words: no template puts a variable into <title>."""
    for path in TEMPLATES_DIR.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        for block in re.findall(r"\{% block title %\}(.*?)\{% endblock %\}", source, flags=re.S):
            stripped = re.sub(r"\{\{\s*_\(\"[^\"]*\"\)\s*\}\}", "", block)
            assert "{{" not in stripped, f"{path.name}: the title interpolates data: {block!r}"


def test_english_is_the_message_ids_themselves() -> None:
    assert translations("en").gettext("My images") == "My images"
    assert translations("zh_CN").gettext("My images") == "我的影像"
