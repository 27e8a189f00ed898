"""WADO-RS frames (PS3.18 §10.4.1.1.3) and pixel bulk data: which representation, and the frame bytes.

Frames are served either decoded — ``application/octet-stream``, native little-endian samples (pydicom's
handlers decode JPEG, JPEG-LS, JPEG 2000 and RLE; bit-packed 1-bit data is unpacked to one byte per sample) —
or, when the client accepts the stored compressed media type (``image/jls``, ``image/jp2``, …), as the stored
compressed frames without decoding. Frames are decoded one at a time while the response streams.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.encaps import generate_frames
from pydicom.pixels.utils import iter_pixels
from pydicom.uid import UID, ExplicitVRLittleEndian

from imaging_cloud.dicomweb.negotiation import ANY, MediaRange
from imaging_cloud.dicomweb.transcoding import ANY_TRANSFER_SYNTAX, decodable
from imaging_cloud.errors import BadRequest, NotAcceptable, NotFound

OCTET_STREAM = "application/octet-stream"

#: PS3.18 Table 8.7.3-2: the media type of a compressed frame in each transfer syntax.
COMPRESSED_FRAME_MEDIA_TYPES: dict[str, str] = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
_FRAME_LIST = re.compile(r"[0-9]+(,[0-9]+)*")


@dataclass(frozen=True)
class FrameRepresentation:
    """How frames leave the service: ``media_type`` of each part and the transfer syntax it is in."""

    media_type: str
    transfer_syntax: str

    @property
    def decoded(self) -> bool:
        return self.media_type == OCTET_STREAM

    @property
    def part_content_type(self) -> str:
        return f"{self.media_type}; transfer-syntax={self.transfer_syntax}"


def parse_frame_numbers(value: str) -> list[int]:
    """``"1,3,5"`` → ``[1, 3, 5]`` (1-based, as sent); 400 on anything else."""
    if not _FRAME_LIST.fullmatch(value) or any(int(n) < 1 for n in value.split(",")):
        raise BadRequest("frame list must be comma-separated frame numbers ≥ 1", code="invalid-frame-list")
    return [int(n) for n in value.split(",")]


def check_frame_numbers(numbers: Sequence[int], number_of_frames: int) -> None:
    missing = [n for n in numbers if n > number_of_frames]
    if missing:
        raise NotFound(
            "frame number out of range",
            code="frame-not-found",
            detail={"number_of_frames": number_of_frames, "missing": missing},
        )


def _candidate_part_types(media_range: MediaRange) -> str | None:
    if media_range.type == "multipart/related":
        return media_range.part_type or ANY
    if media_range.type in (ANY, "multipart/*"):
        return ANY
    return None


def choose_frame_representation(ranges: Sequence[MediaRange], stored: str) -> FrameRepresentation:
    """The most preferred representation the client accepts and this service can produce (else 406)."""
    compressed_type = COMPRESSED_FRAME_MEDIA_TYPES.get(stored)
    for media_range in ranges:
        part_type = _candidate_part_types(media_range)
        if part_type is None:
            continue
        wanted = MediaRange(part_type)
        syntax = media_range.transfer_syntax
        if (
            wanted.admits(OCTET_STREAM)
            and syntax in (None, ANY_TRANSFER_SYNTAX, ExplicitVRLittleEndian)
            and decodable(stored)
        ):
            return FrameRepresentation(OCTET_STREAM, ExplicitVRLittleEndian)
        if compressed_type and wanted.admits(compressed_type) and syntax in (None, ANY_TRANSFER_SYNTAX, stored):
            return FrameRepresentation(compressed_type, stored)
    offered = [OCTET_STREAM] if decodable(stored) else []
    offered += [compressed_type] if compressed_type else []
    raise NotAcceptable(
        "frames of this instance are available only as the listed media types",
        code="not-acceptable",
        detail={"available": [f'multipart/related; type="{t}"' for t in offered]},
    )


def _little_endian_bytes(frame: np.ndarray) -> bytes:
    return frame.astype(frame.dtype.newbyteorder("<"), copy=False).tobytes()


def decoded_frames(source: BinaryIO, numbers: Sequence[int]) -> Iterator[bytes]:
    """Each requested frame decoded to native little-endian samples, one frame in memory at a time."""
    for frame in iter_pixels(source, indices=[n - 1 for n in numbers], raw=True):
        yield _little_endian_bytes(frame)


def compressed_frames(source: BinaryIO, numbers: Sequence[int]) -> Iterator[bytes]:
    """Each requested frame as stored (encapsulated), without decoding."""
    ds = pydicom.dcmread(source)
    if not UID(str(ds.file_meta.TransferSyntaxUID)).is_encapsulated:
        raise ValueError("the object is not encapsulated")
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.get("NumberOfFrames", 1) or 1)))
    for number in numbers:
        yield frames[number - 1]


def all_decoded_frames(source: BinaryIO) -> Iterator[bytes]:
    """The whole pixel data decoded (PixelData bulk data), frame by frame."""
    for frame in iter_pixels(source, raw=True):
        yield _little_endian_bytes(frame)
