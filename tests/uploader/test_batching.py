"""Batches respect both the file count and the byte budget; an oversized file travels alone."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_cloud.uploader.batching import batches
from imaging_cloud.uploader.discovery import SourceFile


def _files(*sizes: int) -> list[SourceFile]:
    return [SourceFile(Path(f"/f{i}"), size, 0) for i, size in enumerate(sizes)]


def test_batches_close_at_the_file_count() -> None:
    groups = list(batches(_files(1, 1, 1, 1, 1), max_files=2, max_bytes=100))
    assert [len(g) for g in groups] == [2, 2, 1]


def test_batches_close_before_the_byte_budget_is_exceeded() -> None:
    groups = list(batches(_files(40, 40, 40, 10), max_files=50, max_bytes=100))
    assert [[f.size for f in g] for g in groups] == [[40, 40], [40, 10]]


def test_a_file_larger_than_the_budget_goes_alone() -> None:
    groups = list(batches(_files(10, 500, 10), max_files=50, max_bytes=100))
    assert [[f.size for f in g] for g in groups] == [[10], [500], [10]]


def test_batch_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        list(batches(_files(1), max_files=0))
