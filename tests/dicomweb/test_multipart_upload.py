"""Receiving multipart/related: bounded memory however many parts a request carries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from imaging_cloud.dicomweb.multipart_upload import receive_parts
from tests.stow_client import multipart_body


async def _chunks(body: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


def test_many_small_parts_spill_to_disk_past_the_request_budget() -> None:
    parts = [bytes([n]) * 100_000 for n in range(40)]  # each fits the per-part limit; together 4 MB
    body, _content_type = multipart_body(parts, boundary="b")
    received = asyncio.run(
        receive_parts(
            _chunks(body),
            "b",
            memory_limit=1_000_000,
            max_part_bytes=10_000_000,
            max_request_bytes=10_000_000,
            memory_budget=1_000_000,
        )
    )
    try:
        on_disk = [p for p in received if hasattr(p.file, "name")]
        in_memory = [p for p in received if not hasattr(p.file, "name")]
        assert sum(p.size for p in in_memory) <= 1_000_000
        assert len(on_disk) >= 30
        assert [p.file.read() for p in received] == parts
    finally:
        for part in received:
            part.close()
