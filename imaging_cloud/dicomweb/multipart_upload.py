"""Receive a ``multipart/related`` body part by part, spooling each part to bounded memory or a temp file.

Nothing is held whole in memory: parts larger than ``memory_limit`` go to a temporary file, and the per-part and
per-request limits stop a body the moment it crosses them (413), before it is stored anywhere.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser

from imaging_cloud.errors import BadRequest, PayloadTooLarge


class MemoryBudget:
    """Bytes of parts one request may keep in memory; past it every further part goes to disk."""

    def __init__(self, limit: int) -> None:
        self.remaining = limit


class SpooledPart:
    """One received part: its headers and a readable binary file positioned at 0 after ``finish``.

    A part stays in memory while it fits both its own limit and the request's budget, so a request of many small
    parts keeps at most ``budget`` bytes in memory however large the request is.
    """

    def __init__(self, memory_limit: int, budget: MemoryBudget) -> None:
        self.headers: dict[str, str] = {}
        self.size = 0
        self._memory_limit = memory_limit
        self._budget = budget
        self._file: BinaryIO = io.BytesIO()
        self._on_disk = False

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    @property
    def file(self) -> BinaryIO:
        return self._file

    def write(self, data: bytes) -> None:
        if not self._on_disk:
            if self.size + len(data) > self._memory_limit or len(data) > self._budget.remaining:
                disk = tempfile.NamedTemporaryFile(prefix="stow-part-", suffix=".dcm")  # noqa: SIM115 (see close())
                disk.write(self._file.getbuffer())  # type: ignore[attr-defined]
                self._budget.remaining += self.size
                self._file = disk  # type: ignore[assignment]
                self._on_disk = True
            else:
                self._budget.remaining -= len(data)
        self._file.write(data)
        self.size += len(data)

    def finish(self) -> None:
        self._file.flush()
        self._file.seek(0)

    def close(self) -> None:
        self._file.close()


@dataclass
class _ParseState:
    memory_limit: int
    max_part_bytes: int
    budget: MemoryBudget
    parts: list[SpooledPart] = field(default_factory=list)
    header_field: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    ended: bool = False
    error: Exception | None = None

    @property
    def current(self) -> SpooledPart:
        return self.parts[-1]

    def on_part_begin(self) -> None:
        self.parts.append(SpooledPart(self.memory_limit, self.budget))

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        name = self.header_field.decode("latin-1").strip().lower()
        self.current.headers[name] = self.header_value.decode("latin-1").strip()
        self.header_field.clear()
        self.header_value.clear()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self.current.size + (end - start) > self.max_part_bytes:
            raise PayloadTooLarge(
                "a part exceeds the per-part size limit",
                code="part-too-large",
                detail={"limit_bytes": self.max_part_bytes},
            )
        self.current.write(data[start:end])

    def on_part_end(self) -> None:
        self.current.finish()

    def on_end(self) -> None:
        self.ended = True


async def receive_parts(
    body: AsyncIterator[bytes],
    boundary: str,
    *,
    memory_limit: int,
    max_part_bytes: int,
    max_request_bytes: int,
    memory_budget: int = 32 * 1024 * 1024,
) -> list[SpooledPart]:
    """Consume ``body`` into spooled parts; raises 400 on a malformed body and 413 over a limit.

    On any error every part received so far is closed (its temp file removed) before the error propagates.
    """
    state = _ParseState(memory_limit=memory_limit, max_part_bytes=max_part_bytes, budget=MemoryBudget(memory_budget))
    callbacks = {
        f"on_{name}": getattr(state, f"on_{name}")
        for name in (
            "part_begin",
            "header_field",
            "header_value",
            "header_end",
            "part_data",
            "part_end",
            "end",
        )
    }
    parser = MultipartParser(boundary, callbacks, max_header_count=32, max_header_size=8192)  # type: ignore[arg-type]
    received = 0
    try:
        async for chunk in body:
            received += len(chunk)
            if received > max_request_bytes:
                raise PayloadTooLarge(
                    "the request exceeds the size limit",
                    code="request-too-large",
                    detail={"limit_bytes": max_request_bytes},
                )
            if state.ended:
                continue  # epilogue after the closing boundary is ignored, as RFC 2046 says
            parser.write(chunk)
        if received == 0:
            raise BadRequest("the request body is empty", code="empty-body")
        if not state.ended:
            raise BadRequest("the multipart body ends before its closing boundary", code="truncated-multipart")
        if not state.parts:
            raise BadRequest("the multipart body has no parts", code="no-parts")
        return state.parts
    except MultipartParseError:
        for part in state.parts:
            part.close()
        raise BadRequest("the multipart body is malformed", code="malformed-multipart") from None
    except BaseException:
        for part in state.parts:
            part.close()
        raise
