"""A STOW-RS request body streamed from disk: multipart/related parts read in chunks, never the whole batch."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from imaging_cloud.uploader.discovery import SourceFile

CHUNK_BYTES = 256 * 1024


class SourceChanged(Exception):
    """A file's size changed between discovery and sending; the declared Content-Length would be wrong."""


@dataclass(frozen=True)
class MultipartBody:
    files: Sequence[SourceFile]
    boundary: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def content_type(self) -> str:
        return f'multipart/related; type="application/dicom"; boundary={self.boundary}'

    def _part_header(self, source: SourceFile) -> bytes:
        return (
            f"--{self.boundary}\r\nContent-Type: application/dicom\r\nContent-Length: {source.size}\r\n\r\n"
        ).encode("ascii")

    def _closing(self) -> bytes:
        return f"--{self.boundary}--\r\n".encode("ascii")

    @property
    def content_length(self) -> int:
        parts = sum(len(self._part_header(s)) + s.size + 2 for s in self.files)
        return parts + len(self._closing())

    def iter_bytes(self, on_file_bytes: Callable[[int], None] | None = None) -> Iterator[bytes]:
        """The body in chunks; ``on_file_bytes(n)`` is told about file bytes as they leave (for progress)."""
        for source in self.files:
            yield self._part_header(source)
            remaining = source.size
            with source.path.open("rb") as handle:
                while remaining > 0:
                    chunk = handle.read(min(CHUNK_BYTES, remaining))
                    if not chunk:
                        raise SourceChanged("a file shrank while it was being sent")
                    remaining -= len(chunk)
                    if on_file_bytes is not None:
                        on_file_bytes(len(chunk))
                    yield chunk
            yield b"\r\n"
        yield self._closing()
