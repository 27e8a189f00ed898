"""The Retain Safe Private Option's allowlist: private attributes PS3.15 Table E.3.10-1 lists as safe.

A private element is identified by its group, its private creator (the value of the ``(gggg,00xx)`` element
that reserves block ``xx``) and its element byte ``ee`` in ``(gggg,xxee)``; the block number itself varies from
file to file. An element is safe only when all three match a row, and its VR (when the file states one) is the
row's VR. The rows are in ``deidentify/data/safe_private_tags.json`` with their provenance.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from types import MappingProxyType


@dataclass(frozen=True)
class SafePrivate:
    """One allowlisted private attribute."""

    group: int
    private_creator: str
    element: int
    """The low byte ``ee`` of ``(gggg,xxee)``."""
    vr: str
    meaning: str


def _parse_tag(text: str) -> tuple[int, int]:
    """``(0019,xx23)`` → ``(0x0019, 0x23)``."""
    group, element = text.strip("()").split(",")
    if not element.lower().startswith("xx") or len(group) != 4 or len(element) != 4:
        raise ValueError(f"safe private row: unexpected tag {text!r}")
    number = int(group, 16)
    if number % 2 == 0:
        raise ValueError(f"safe private row: group of {text!r} is not private")
    return number, int(element[2:], 16)


def creator_key(creator: str) -> str:
    """Private creators compare without the padding and surrounding spaces some writers add."""
    return creator.strip(" \x00")


@cache
def load_safe_private() -> Mapping[tuple[int, str, int], SafePrivate]:
    """The allowlist keyed by ``(group, private creator, element byte)`` (loaded once per process)."""
    text = resources.files("deidentify.data").joinpath("safe_private_tags.json").read_text(encoding="utf-8")
    rows: dict[tuple[int, str, int], SafePrivate] = {}
    for raw in json.loads(text)["rows"]:
        group, element = _parse_tag(str(raw["tag"]))
        entry = SafePrivate(
            group, creator_key(str(raw["private_creator"])), element, str(raw["vr"]), str(raw["meaning"])
        )
        rows[(group, entry.private_creator, element)] = entry
    return MappingProxyType(rows)


def safe_private(group: int, creator: str, element: int) -> SafePrivate | None:
    """The allowlist row for element byte ``element`` of ``creator``'s block in ``group``, if any."""
    return load_safe_private().get((group, creator_key(creator), element & 0xFF))
