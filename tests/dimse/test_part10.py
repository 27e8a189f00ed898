"""Received data set bytes → Part 10 without decoding: meta in front, deflate inflated within the size limit."""

from __future__ import annotations

import io
import random
import zlib

import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom.dsutils import encode

from imaging_cloud.demo.synthetic import StudySpec, make_patient, make_study
from imaging_cloud.dimse.part10 import RefusedDataSet, write_part10
from imaging_cloud.ingest.outcome import FailureReason

MB = 1024 * 1024


def _dataset_bytes() -> tuple[bytes, FileMetaDataset]:
    [dataset] = make_study(
        make_patient(random.Random(3)), StudySpec("CT", "HEAD", "x", instances=1, rows=32, columns=32), patient_id="P"
    )
    on_the_wire = encode(dataset, False, True)  # what a C-STORE carries: no preamble, no meta
    assert on_the_wire is not None
    return on_the_wire, dataset.file_meta


def _deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def test_data_set_is_written_verbatim_after_preamble_and_meta() -> None:
    data, meta = _dataset_bytes()
    target = io.BytesIO()
    write_part10(target, meta, memoryview(data), max_bytes=MB)
    written = target.getvalue()
    assert written[128:132] == b"DICM"
    assert written.endswith(data)
    target.seek(0)
    assert pydicom.dcmread(target).SOPInstanceUID == meta.MediaStorageSOPInstanceUID


def test_deflated_data_set_is_inflated_and_labelled_explicit_little_endian() -> None:
    data, meta = _dataset_bytes()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    target = io.BytesIO()
    write_part10(target, meta, memoryview(_deflate(data)), max_bytes=MB)
    assert target.getvalue().endswith(data)
    target.seek(0)
    assert pydicom.dcmread(target).file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_data_set_over_the_size_limit_is_refused_as_out_of_resources() -> None:
    data, meta = _dataset_bytes()
    with pytest.raises(RefusedDataSet) as refused:
        write_part10(io.BytesIO(), meta, memoryview(data), max_bytes=len(data) - 1)
    assert refused.value.reason is FailureReason.OUT_OF_RESOURCES


def test_deflate_bomb_stops_at_the_size_limit() -> None:
    _, meta = _dataset_bytes()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    bomb = _deflate(b"\0" * (64 * MB))  # ~64 KB on the wire
    target = io.BytesIO()
    with pytest.raises(RefusedDataSet) as refused:
        write_part10(target, meta, memoryview(bomb), max_bytes=2 * MB)
    assert refused.value.reason is FailureReason.OUT_OF_RESOURCES
    assert len(target.getvalue()) <= 2 * MB + 4096


def test_corrupt_deflate_stream_cannot_be_understood() -> None:
    _, meta = _dataset_bytes()
    meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    with pytest.raises(RefusedDataSet) as refused:
        write_part10(io.BytesIO(), meta, memoryview(b"\xff\xfe\xfd not deflate"), max_bytes=MB)
    assert refused.value.reason is FailureReason.CANNOT_UNDERSTAND
