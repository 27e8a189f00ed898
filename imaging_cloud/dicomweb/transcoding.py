"""Which transfer syntaxes an instance can be served in, and the conversion to the uncompressed ones.

WADO-RS serves an object as stored (``transfer-syntax=*`` or the stored UID) without touching it. When the client
asks for Explicit VR Little Endian (the PS3.18 default for ``application/dicom``) or Implicit VR Little Endian,
the object is decoded with pydicom's pixel-data handlers (pylibjpeg: JPEG, JPEG-LS, JPEG 2000, RLE) and
rewritten into a temporary file: one instance at a time is held in memory, never a study.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Sequence
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pack_bits, pixel_array
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
)

from imaging_cloud.dicomweb.negotiation import ANY, MediaRange
from imaging_cloud.errors import NotAcceptable

ANY_TRANSFER_SYNTAX = "*"
DICOM = "application/dicom"
UNCOMPRESSED = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian}
)
#: What this service converts to when the stored syntax is not asked for.
CONVERTIBLE_TARGETS = frozenset({ExplicitVRLittleEndian, ImplicitVRLittleEndian})
_SWAP_WIDTH = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def decodable(transfer_syntax: str) -> bool:
    """Whether pixel data in ``transfer_syntax`` can be decoded here (uncompressed, or a handler is installed)."""
    if transfer_syntax in UNCOMPRESSED:
        return True
    try:
        return bool(get_decoder(transfer_syntax).is_available)
    except NotImplementedError:
        return False


def can_serve(stored: str, requested: str) -> bool:
    """Whether an instance stored in ``stored`` can be sent in ``requested`` (a UID or ``*``)."""
    if requested in (ANY_TRANSFER_SYNTAX, stored):
        return True
    return requested in CONVERTIBLE_TARGETS and decodable(stored)


def served_syntax(stored: str, requested: str) -> str:
    return stored if requested == ANY_TRANSFER_SYNTAX else requested


def _pixels_to_little_endian(ds: Dataset) -> None:
    """Big endian → little endian: rewrite pixel data from its decoded array and swap the other word values."""
    for element in ds:
        if element.tag == 0x7FE00010:
            frames = pixel_array(ds, raw=True)
            if int(ds.get("BitsAllocated", 8)) == 1:
                value = pack_bits(frames)
            else:
                value = frames.astype(frames.dtype.newbyteorder("<"), copy=False).tobytes()
            element.value = value + b"\x00" * (len(value) % 2)
        elif element.VR in _SWAP_WIDTH and element.value:
            width = _SWAP_WIDTH[element.VR]
            element.value = np.frombuffer(element.value, dtype=f">u{width}").astype(f"<u{width}").tobytes()


def transcode(source: BinaryIO, target: str) -> BinaryIO:
    """A temporary file (positioned at 0; caller closes it) holding ``source`` re-encoded in ``target``."""
    ds = pydicom.dcmread(source)
    stored = UID(str(ds.file_meta.TransferSyntaxUID))
    if stored.is_compressed and "PixelData" in ds:
        ds.decompress(generate_instance_uid=False)
    elif stored == ExplicitVRBigEndian:
        _pixels_to_little_endian(ds)
    ds.file_meta.TransferSyntaxUID = UID(target)
    output = tempfile.TemporaryFile(prefix="wado-transcode-")  # noqa: SIM115 (returned open to the caller)
    try:
        pydicom.dcmwrite(output, ds, enforce_file_format=True)
    except Exception:
        output.close()
        raise
    output.seek(0)
    return output


def choose_transfer_syntax(ranges: Sequence[MediaRange], stored: Iterable[str]) -> str:
    """The transfer syntax (a UID or ``*``) of the most preferred acceptable representation of every instance.

    ``multipart/related; type="application/dicom"`` without ``transfer-syntax`` means Explicit VR Little Endian
    (PS3.18 §8.7.3.5.2); ``*/*`` likewise. 406 when no acceptable range can be met for all instances.
    """
    syntaxes = set(stored)
    for media_range in ranges:
        if media_range.type == "multipart/related":
            if not MediaRange(media_range.part_type or DICOM).admits(DICOM):
                continue
        elif media_range.type not in (ANY, "multipart/*"):
            continue
        requested = media_range.transfer_syntax or ExplicitVRLittleEndian
        if all(can_serve(syntax, requested) for syntax in syntaxes):
            return requested
    raise NotAcceptable(
        'instances are available as multipart/related; type="application/dicom" with transfer-syntax=* '
        "(as stored) or an uncompressed transfer syntax",
        code="not-acceptable",
        detail={"stored_transfer_syntaxes": sorted(syntaxes)},
    )
