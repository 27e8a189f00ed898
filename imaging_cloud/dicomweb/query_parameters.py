"""QIDO-RS query parameters (PS3.18 §8.3.4): matching keys, ``includefield``, ``fuzzymatching``, ``limit``, ``offset``.

Parsed strictly: an unknown key, a repeated matching key or a malformed value is a 400 with its own code, so a
typo never turns into a silently broader search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from imaging_cloud.dicomweb.matching import Attribute, Filter, Level, check_matchable
from imaging_cloud.errors import BadRequest

#: The most results one response carries; more are signalled with a ``Warning`` header (PS3.18 §8.3.4.4).
MAXIMUM_RESULTS = 1000


@dataclass(frozen=True)
class IncludeFields:
    """``includefield``: ``all`` or a set of tags (8-digit upper-case hex)."""

    all: bool = False
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class SearchQuery:
    filters: tuple[Filter, ...] = ()
    include: IncludeFields = IncludeFields()
    fuzzy: bool = False
    limit: int | None = None
    offset: int = 0

    @property
    def effective_limit(self) -> int:
        return min(self.limit, MAXIMUM_RESULTS) if self.limit is not None else MAXIMUM_RESULTS

    @property
    def matched_tags(self) -> frozenset[str]:
        return frozenset(f.attribute.hex for f in self.filters)


def _non_negative(name: str, value: str, minimum: int) -> int:
    try:
        number = int(value)
    except ValueError:
        number = minimum - 1
    if number < minimum:
        raise BadRequest(f"{name} must be an integer ≥ {minimum}", code=f"invalid-{name}")
    return number


def _include_fields(values: list[str]) -> IncludeFields:
    tags: set[str] = set()
    include_all = False
    for value in values:
        for item in (v.strip() for v in value.split(",")):
            if not item:
                continue
            if item.lower() == "all":
                include_all = True
                continue
            attribute = Attribute.resolve(item)
            if attribute is None:
                raise BadRequest(
                    "includefield names an unknown attribute", code="unknown-include-field", detail={"field": item}
                )
            tags.add(attribute.hex)
    return IncludeFields(all=include_all, tags=frozenset(tags))


def parse_search_query(items: Iterable[tuple[str, str]], level: Level) -> SearchQuery:
    """A ``SearchQuery`` from the request's query items (400 on anything this service does not understand)."""
    filters: dict[int, Filter] = {}
    includes: list[str] = []
    limit: int | None = None
    offset = 0
    fuzzy = False
    for key, value in items:
        name = key.strip()
        lowered = name.lower()
        if lowered == "limit":
            limit = _non_negative("limit", value, 1)
        elif lowered == "offset":
            offset = _non_negative("offset", value, 0)
        elif lowered == "fuzzymatching":
            if value.lower() not in ("true", "false"):
                raise BadRequest("fuzzymatching must be true or false", code="invalid-fuzzymatching")
            fuzzy = value.lower() == "true"
        elif lowered == "includefield":
            includes.append(value)
        elif "." in name:
            raise BadRequest(
                "matching on attributes inside sequences is not supported",
                code="unsupported-matching-key",
                detail={"key": name},
            )
        else:
            attribute = Attribute.resolve(name)
            if attribute is None:
                raise BadRequest("unknown query parameter or attribute", code="unknown-query-key", detail={"key": name})
            check_matchable(attribute, level)
            if attribute.tag in filters:
                raise BadRequest(
                    "a matching key is given more than once", code="duplicate-query-key", detail={"key": name}
                )
            filters[attribute.tag] = Filter(attribute, value.strip())
    return SearchQuery(
        filters=tuple(filters.values()),
        include=_include_fields(includes),
        fuzzy=fuzzy,
        limit=limit,
        offset=offset,
    )
