"""A received C-STORE data set as a DICOM Part 10 stream, without decoding it.

Part 10 = 128-byte preamble, ``DICM``, File Meta Information (built from the presentation context), then the data
set bytes exactly as sent. Deflated Explicit VR Little Endian is a transfer encoding of the association: it is
inflated here (a byte-level step, with the same size limit as a STOW-RS part, so a small deflate bomb cannot fill
the disk) and written as Explicit VR Little Endian.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

from pydicom.dataset import FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom.dsutils import encode_file_meta

from imaging_cloud.ingest.outcome import FailureReason

PREAMBLE = b"\x00" * 128 + b"DICM"
_INFLATE_CHUNK = 1024 * 1024


class RefusedDataSet(Exception):
    """The received bytes cannot become a Part 10 object; carries the failure reason for the status."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _too_large() -> RefusedDataSet:
    return RefusedDataSet(FailureReason.OUT_OF_RESOURCES, "the instance exceeds the size limit")


def write_part10(target: BinaryIO, file_meta: FileMetaDataset, data: memoryview, max_bytes: int) -> None:
    """Write ``data`` (the data set as received) with ``file_meta`` in front; refuse more than ``max_bytes``."""
    deflated = file_meta.TransferSyntaxUID == DeflatedExplicitVRLittleEndian
    if deflated:
        file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    elif data.nbytes > max_bytes:
        raise _too_large()
    target.write(PREAMBLE)
    target.write(encode_file_meta(file_meta))
    if not deflated:
        target.write(data)
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    written = 0
    pending: bytes | memoryview = data
    try:
        while pending:
            chunk = inflater.decompress(pending, _INFLATE_CHUNK)
            written += len(chunk)
            if written > max_bytes:
                raise _too_large()
            target.write(chunk)
            pending = inflater.unconsumed_tail
            if not chunk:  # end of the deflate stream (anything after it is ignored)
                break
        rest = inflater.flush()
    except zlib.error:
        raise RefusedDataSet(FailureReason.CANNOT_UNDERSTAND, "the deflated data set cannot be inflated") from None
    if written + len(rest) > max_bytes:
        raise _too_large()
    target.write(rest)
