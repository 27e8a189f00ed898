"""Writing ``multipart/related`` responses (RFC 2387) lazily: each part's body is an iterator of chunks.

Nothing is assembled in memory: the response streams part headers and body chunks as the body iterators produce
them, so a study leaves the service one chunk at a time.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse


@dataclass(frozen=True)
class Part:
    content_type: str
    body: Iterable[bytes]
    location: str | None = None
    """``Content-Location`` of the part (the resource it represents), if useful to the client."""


def new_boundary() -> str:
    return secrets.token_hex(16)


def encode_parts(parts: Iterable[Part], boundary: str) -> Iterator[bytes]:
    """The body of a multipart message holding ``parts``, chunk by chunk."""
    for part in parts:
        header = f"--{boundary}\r\nContent-Type: {part.content_type}\r\n"
        if part.location:
            header += f"Content-Location: {part.location}\r\n"
        yield (header + "\r\n").encode("ascii")
        yield from part.body
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode("ascii")


def multipart_response(
    parts: Iterable[Part], part_type: str, *, background: BackgroundTask | None = None
) -> StreamingResponse:
    """A streamed ``multipart/related; type="<part_type>"`` response."""
    boundary = new_boundary()
    return StreamingResponse(
        encode_parts(parts, boundary),
        media_type=f'multipart/related; type="{part_type}"; boundary={boundary}',
        background=background,
    )
