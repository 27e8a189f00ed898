"""The person an object belongs to: pseudonym, stable reference, and the identifiers the caller knows.

These objects hold PHI (names, IDs, phone numbers, addresses): pass them to :func:`deidentify.deidentify` and
:func:`deidentify.verify`, never to a log or an exception message. ``repr`` shows counts only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for value in values:
        text = str(value).strip()
        if text:
            seen.setdefault(text, None)
    return tuple(seen)


@dataclass(frozen=True)
class KnownIdentifiers:
    """Identifiers of one person (and people named around them); every field is a tuple of strings.

    ``names``: any written form ("王小东", "Wang^XiaoDong", "WANG XIAODONG"); ``ids``: national ID, EHC number,
    local MRNs, accession numbers; ``phones``; ``addresses``. Blank and repeated values are dropped.
    """

    names: tuple[str, ...] = ()
    ids: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    addresses: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name in ("names", "ids", "phones", "addresses"):
            object.__setattr__(self, name, _unique(getattr(self, name)))

    def merged(self, other: KnownIdentifiers) -> KnownIdentifiers:
        """Union of both sets, this one's values first."""
        return KnownIdentifiers(
            names=self.names + other.names,
            ids=self.ids + other.ids,
            phones=self.phones + other.phones,
            addresses=self.addresses + other.addresses,
        )

    def is_empty(self) -> bool:
        return not (self.names or self.ids or self.phones or self.addresses)

    def __repr__(self) -> str:
        return (
            f"KnownIdentifiers(<{len(self.names)} names, {len(self.ids)} ids, {len(self.phones)} phones,"
            f" {len(self.addresses)} addresses>)"
        )


@dataclass(frozen=True)
class Subject:
    """Who the object is about: ``pseudonym`` becomes PatientID; ``person_ref`` keys the research date shift."""

    pseudonym: str
    known: KnownIdentifiers = field(default_factory=KnownIdentifiers)
    person_ref: str = ""

    def __post_init__(self) -> None:
        if not self.pseudonym or len(self.pseudonym) > 64 or "\\" in self.pseudonym:
            raise ValueError("pseudonym must be 1-64 characters without backslash (DICOM LO)")
        if any(ord(ch) < 0x20 for ch in self.pseudonym):
            raise ValueError("pseudonym must not contain control characters")

    def __repr__(self) -> str:
        return f"Subject(pseudonym={self.pseudonym!r}, known={self.known!r})"
