"""Grouping files into STOW-RS requests, bounded by file count and by bytes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from imaging_cloud.uploader.discovery import SourceFile

DEFAULT_BATCH_FILES = 50
DEFAULT_BATCH_BYTES = 64 * 1024 * 1024


def batches(
    files: Iterable[SourceFile], *, max_files: int = DEFAULT_BATCH_FILES, max_bytes: int = DEFAULT_BATCH_BYTES
) -> Iterator[list[SourceFile]]:
    """Consecutive groups of at most ``max_files`` files and ``max_bytes`` bytes (a larger file goes alone)."""
    if max_files < 1 or max_bytes < 1:
        raise ValueError("batch limits must be positive")
    batch: list[SourceFile] = []
    size = 0
    for source in files:
        if batch and (len(batch) >= max_files or size + source.size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(source)
        size += source.size
    if batch:
        yield batch
