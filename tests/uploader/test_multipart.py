"""The streamed STOW body is well-formed multipart/related and its declared length is exact."""

from __future__ import annotations

from pathlib import Path

import pytest

from imaging_cloud.uploader.discovery import SourceFile
from imaging_cloud.uploader.multipart import CHUNK_BYTES, MultipartBody, SourceChanged


def test_body_length_matches_the_streamed_bytes_and_parts_carry_the_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a.dcm", tmp_path / "b.dcm"
    first.write_bytes(b"A" * (CHUNK_BYTES * 2 + 5))
    second.write_bytes(b"B" * 7)
    body = MultipartBody([SourceFile.of(first), SourceFile.of(second)], boundary="xyz")
    seen: list[int] = []

    streamed = b"".join(body.iter_bytes(seen.append))

    assert len(streamed) == body.content_length
    assert sum(seen) == CHUNK_BYTES * 2 + 5 + 7
    assert max(seen) <= CHUNK_BYTES  # read in chunks, never a whole file at once
    assert streamed.startswith(b"--xyz\r\nContent-Type: application/dicom\r\n")
    assert streamed.endswith(b"B" * 7 + b"\r\n--xyz--\r\n")
    assert body.content_type == 'multipart/related; type="application/dicom"; boundary=xyz'


def test_a_file_that_shrinks_while_sending_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "a.dcm"
    path.write_bytes(b"A" * 100)
    body = MultipartBody([SourceFile.of(path)])
    path.write_bytes(b"A" * 10)

    with pytest.raises(SourceChanged):
        b"".join(body.iter_bytes())
