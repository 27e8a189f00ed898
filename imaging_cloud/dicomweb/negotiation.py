"""Content negotiation for the DICOMweb read side: parse ``Accept`` and pick what a route can produce.

``Accept`` is a comma-separated list of media ranges with parameters (``type``, ``transfer-syntax``, ``q``);
ranges are tried in order of preference (``q`` descending, then as sent). An absent header accepts anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from imaging_cloud.dicomweb.media_types import MediaType
from imaging_cloud.errors import BadRequest, NotAcceptable

DICOM_JSON = "application/dicom+json"
ANY = "*/*"


@dataclass(frozen=True)
class MediaRange:
    """One entry of ``Accept``: ``type`` is lower-case ``main/sub`` (wildcards allowed)."""

    type: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    def admits(self, media_type: str) -> bool:
        """Whether this range covers the concrete ``media_type``."""
        if self.type in (ANY, media_type):
            return True
        main, _, sub = self.type.partition("/")
        return sub == "*" and media_type.startswith(main + "/")

    @property
    def part_type(self) -> str:
        """For ``multipart/related``: the media type of the parts (``type`` parameter), lower-case."""
        return self.params.get("type", "").strip().lower()

    @property
    def transfer_syntax(self) -> str | None:
        value = self.params.get("transfer-syntax")
        return value.strip() if value is not None else None


def _split_outside_quotes(value: str) -> list[str]:
    items: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items if item.strip()]


def parse_accept(values: Iterable[str]) -> list[MediaRange]:
    """Media ranges from one or more ``Accept`` header values, most preferred first; none means ``*/*``."""
    ranges: list[MediaRange] = []
    for value in values:
        for item in _split_outside_quotes(value):
            media = MediaType.parse(item)
            if "/" not in media.type:
                raise BadRequest("the Accept header is malformed", code="malformed-accept")
            try:
                q = float(media.params.get("q", "1"))
            except ValueError:
                raise BadRequest("the Accept header has an invalid q value", code="malformed-accept") from None
            if q <= 0:
                continue
            params = {k: v for k, v in media.params.items() if k != "q"}
            ranges.append(MediaRange(type=media.type, params=params, q=q))
    if not ranges and not any(_split_outside_quotes(v) for v in values):
        return [MediaRange(ANY)]
    return sorted(ranges, key=lambda r: -r.q)  # sorted() is stable: ties keep the order sent


def choose_single(ranges: list[MediaRange], offered: tuple[str, ...], what: str) -> str:
    """The first of ``offered`` (in server preference) that the most preferred admitting range admits."""
    for media_range in ranges:
        for candidate in offered:
            if media_range.admits(candidate):
                return candidate
    raise NotAcceptable(
        f"{what} is available as {', '.join(offered)} only",
        code="not-acceptable",
        detail={"available": list(offered)},
    )


def require_dicom_json(ranges: list[MediaRange]) -> str:
    """QIDO-RS and ``/metadata`` answer in DICOM JSON (``application/json`` is accepted as an alias)."""
    choose_single(ranges, (DICOM_JSON, "application/json"), "this resource")
    return DICOM_JSON
