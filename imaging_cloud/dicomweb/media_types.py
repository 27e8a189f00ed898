"""Parsing ``Content-Type`` / ``Accept`` values with parameters (boundary, type, transfer-syntax)."""

from __future__ import annotations

from dataclasses import dataclass, field
from email.message import Message


@dataclass(frozen=True)
class MediaType:
    type: str
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, value: str) -> MediaType:
        message = Message()
        message["content-type"] = value
        main = message.get_content_type() if value.strip() else ""
        params = {k.lower(): v for k, v in (message.get_params() or [])[1:]}
        # email.message defaults an unparsable value to text/plain; report what was really sent.
        if main == "text/plain" and not value.strip().lower().startswith("text/plain"):
            main = value.split(";", 1)[0].strip().lower()
        return cls(type=main, params={k: str(v) for k, v in params.items()})
