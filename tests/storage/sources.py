"""Byte sources for store tests: large deterministic streams that never exist in memory whole."""

from __future__ import annotations

import hashlib
import io
import random
import threading
from typing import TYPE_CHECKING, BinaryIO, cast

from imaging_cloud.storage.protocol import ObjectStore

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

MIB = 1024 * 1024


class SourceBroke(OSError):
    """Raised by a source on purpose, mid-stream."""


class PatternStream(io.RawIOBase):
    """``size`` pseudo-random bytes generated on demand, handed out at most ``piece`` bytes per read.

    Short reads are deliberate: a backend must keep asking until EOF, as it would with a socket.
    ``fail_at`` raises SourceBroke once that many bytes were handed out; ``pause_at`` blocks there until
    ``resume`` is set (``paused`` tells the test it got there).
    """

    def __init__(
        self,
        size: int,
        *,
        seed: int = 1,
        piece: int = 64 * 1024,
        fail_at: int | None = None,
        pause_at: int | None = None,
    ) -> None:
        super().__init__()
        self.size = size
        self._block = random.Random(seed).randbytes(MIB)
        self._piece = piece
        self._position = 0
        self._fail_at = fail_at
        self._pause_at = pause_at
        self.paused = threading.Event()
        self.resume = threading.Event()
        self._rotated: tuple[int, bytes] = (0, self._block)

    def _block_at(self, index: int) -> bytes:
        """MiB number ``index``: the seed block rotated by ``index`` bytes, so no two MiB are alike."""
        if self._rotated[0] != index:
            rotation = index % MIB
            self._rotated = (index, self._block[rotation:] + self._block[:rotation])
        return self._rotated[1]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        if self._pause_at is not None and self._position >= self._pause_at:
            self._pause_at = None
            self.paused.set()
            if not self.resume.wait(timeout=30):
                raise TimeoutError("test never resumed the source")
        if self._fail_at is not None and self._position >= self._fail_at:
            raise SourceBroke("source broke on purpose")
        limit = self.size
        for stop in (self._fail_at, self._pause_at):
            if stop is not None:
                limit = min(limit, stop)
        count = min(len(view), self._piece, limit - self._position, MIB - self._position % MIB)
        if count <= 0:
            return 0
        start = self._position % MIB
        view[:count] = self._block_at(self._position // MIB)[start : start + count]
        self._position += count
        return count

    def as_binary(self) -> BinaryIO:
        """The same stream typed as the protocol takes it; every read() may come back short."""
        return cast(BinaryIO, self)


def pattern_digest(size: int, *, seed: int = 1) -> str:
    """SHA-256 of what ``PatternStream(size, seed=seed)`` yields."""
    return stream_digest(PatternStream(size, seed=seed, piece=MIB).as_binary())[0]


def stream_digest(stream: BinaryIO, read_size: int = MIB) -> tuple[str, int]:
    """SHA-256 and length of a stream, read ``read_size`` bytes at a time."""
    digest = hashlib.sha256()
    total = 0
    while chunk := stream.read(read_size):
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total


def stored_digest(store: ObjectStore, key: str) -> str:
    """SHA-256 of a stored object, streamed and closed."""
    with store.open(key) as stream:
        return stream_digest(stream)[0]
