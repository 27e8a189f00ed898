"""Build STOW-RS request bodies the way a hospital uploader would."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from pydicom.dataset import Dataset

from imaging_cloud.demo.synthetic import to_bytes


def multipart_body(
    parts: Iterable[bytes], boundary: str | None = None, part_type: str = "application/dicom"
) -> tuple[bytes, str]:
    """(body, content-type header) for ``parts``."""
    boundary = boundary or uuid.uuid4().hex
    chunks: list[bytes] = []
    for part in parts:
        chunks.append(f"--{boundary}\r\nContent-Type: {part_type}\r\n\r\n".encode())
        chunks.append(part)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="application/dicom"; boundary={boundary}'


def stow_body(datasets: Iterable[Dataset]) -> tuple[bytes, str]:
    return multipart_body(to_bytes(ds) for ds in datasets)
