"""The SCP against DCMTK's echoscu and storescu, the tools PACS administrators test a C-STORE target with."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import pydicom
import pytest
from fastapi.testclient import TestClient
from pydicom.uid import (
    JPEG2000,
    JPEG2000Lossless,
)
from sqlalchemy import func, select

from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study
from imaging_cloud.dimse.server import DimseOptions, StorageScp
from imaging_cloud.dimse.tls import server_ssl_context
from imaging_cloud.runtime import Runtime
from imaging_cloud.studies.models import Instance
from tests.conftest import Hospital, register
from tests.dimse.certificates import self_signed
from tests.dimse.conftest import PEER_AE, protocol_only

pytestmark = pytest.mark.skipif(
    shutil.which("storescu") is None or shutil.which("echoscu") is None,
    reason="DCMTK (storescu, echoscu) is not installed: apt-get install dcmtk (listed in system-packages.txt)",
)

SMALL_CT = StudySpec("CT", "HEAD", "头颅CT平扫", instances=6, rows=64, columns=64)
Encoder = Callable[[SyntheticPatient, str, Path], Path]


def _dcmtk(
    tool: str, scp: StorageScp, *options: str, files: Sequence[Path] = (), calling: str = PEER_AE
) -> subprocess.CompletedProcess[str]:
    host, port = scp.address
    command = [tool, "-aet", calling, "-aec", scp.ae_title, *options, host, str(port), *map(str, files)]
    environment = {**os.environ, "TCP_NODELAY": "1"}  # DCMTK honours it; without it every message waits ~40 ms
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment, check=False)


@protocol_only
def test_echoscu_from_a_registered_peer_succeeds(scp: StorageScp) -> None:
    result = _dcmtk("echoscu", scp)
    assert result.returncode == 0, result.stderr


@protocol_only
def test_echoscu_from_an_unknown_ae_title_is_rejected(scp: StorageScp) -> None:
    result = _dcmtk("echoscu", scp, calling="STRANGER")
    assert result.returncode != 0
    assert "Calling AE Title Not Recognized" in result.stdout + result.stderr


@protocol_only
def test_echoscu_over_tls_succeeds(runtime: Runtime, pacs_peer: str, tmp_path: Path) -> None:
    server = self_signed(tmp_path, "scp")
    with StorageScp(runtime, DimseOptions(port=0, ssl_context=server_ssl_context(server.cert, server.key))) as scp:
        result = _dcmtk("echoscu", scp, "+tla", "+cf", str(server.cert))
        plain = _dcmtk("echoscu", scp, "-to", "5")
    assert result.returncode == 0, result.stdout + result.stderr
    assert plain.returncode != 0


def test_storescu_pushes_a_folder_that_arrives_deidentified_and_searchable(
    scp: StorageScp,
    runtime: Runtime,
    client: TestClient,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-DCMTK")
    sent = list(make_study(patient, SMALL_CT, patient_id="MRN-DCMTK"))
    for index, dataset in enumerate(sent):  # a PACS export: nested folders, no file extensions
        path = tmp_path / "export" / f"S{index % 2}" / f"IM{index:04d}"
        path.parent.mkdir(parents=True, exist_ok=True)
        dataset.save_as(path, enforce_file_format=True)

    result = _dcmtk("storescu", scp, "+sd", "+r", "-R", files=[tmp_path / "export"])
    assert result.returncode == 0, result.stdout + result.stderr

    studies = client.get("/dicomweb/studies", headers=hospital_a.headers)
    assert studies.status_code == 200
    [study] = studies.json()
    assert study["00100020"]["Value"] == [pseudonym]
    assert study["00201208"]["Value"] == [len(sent)]
    assert study["0020000D"]["Value"][0] != str(sent[0].StudyInstanceUID)
    with runtime.units.read_only() as session:
        keys = list(session.scalars(select(Instance.object_key)))
    assert len(keys) == len(sent)
    for key in keys:
        with runtime.store.open(key) as stream:
            stored = pydicom.dcmread(stream)
        assert stored.PatientID == pseudonym
        assert patient.national_id not in str(stored)
        assert "Zhao^Yisheng" not in str(stored)


def _slice(patient: SyntheticPatient, patient_id: str, modality: str = "CT") -> pydicom.Dataset:
    [dataset, *_] = make_study(patient, replace(SMALL_CT, modality=modality, instances=1), patient_id=patient_id)
    return dataset


def _dcmtk_encoded(tool: str, *options: str) -> Encoder:
    """Compress with a DCMTK tool (what a PACS would send); baseline JPEG needs 8-bit data, hence the US slice."""

    def encode(patient: SyntheticPatient, patient_id: str, folder: Path) -> Path:
        source, target = folder / "source.dcm", folder / f"{tool}{''.join(options)}.dcm"
        modality = "US" if "+eb" in options else "CT"
        _slice(patient, patient_id, modality).save_as(source, enforce_file_format=True)
        subprocess.run([tool, *options, str(source), str(target)], check=True, capture_output=True, timeout=30)
        return target

    return encode


def _pydicom_encoded(syntax: str, j2k_cr: list[float] | None = None) -> Encoder:
    def encode(patient: SyntheticPatient, patient_id: str, folder: Path) -> Path:
        dataset = _slice(patient, patient_id)
        dataset.compress(syntax, j2k_cr=j2k_cr)
        target = folder / f"{syntax}.dcm"
        dataset.save_as(target, enforce_file_format=True)
        return target

    return encode


# storescu proposes one compressed transfer syntax per run, chosen by its option.
COMPRESSED: list[tuple[str, Encoder]] = [
    ("-xs", _dcmtk_encoded("dcmcjpeg", "+e1")),  # JPEG lossless, first-order prediction
    ("-xx", _dcmtk_encoded("dcmcjpeg", "+ee")),  # JPEG extended (12 bit)
    ("-xy", _dcmtk_encoded("dcmcjpeg", "+eb")),  # JPEG baseline (8 bit)
    ("-xt", _dcmtk_encoded("dcmcjpls", "+el")),  # JPEG-LS lossless
    ("-xu", _dcmtk_encoded("dcmcjpls", "+en")),  # JPEG-LS near-lossless
    ("-xr", _dcmtk_encoded("dcmcrle")),  # RLE
    ("-xd", _dcmtk_encoded("dcmconv", "+td")),  # deflated explicit VR little endian
    ("-xv", _pydicom_encoded(JPEG2000Lossless)),
    ("-xw", _pydicom_encoded(JPEG2000, j2k_cr=[10])),
]
_CONVERSION = re.compile(r"Converting transfer syntax: (.+) -> (.+)")


def test_storescu_sends_in_every_compressed_transfer_syntax_the_scp_accepts(
    scp: StorageScp,
    runtime: Runtime,
    client: TestClient,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    tmp_path: Path,
) -> None:
    pseudonym = register(client, hospital_a, patient, "MRN-TS")
    for option, encode in COMPRESSED:
        path = encode(patient, "MRN-TS", tmp_path)
        result = _dcmtk("storescu", scp, "-R", "-v", option, files=[path])
        assert result.returncode == 0, result.stdout + result.stderr
        # storescu sent the file in its own (compressed) transfer syntax: the SCP accepted that context.
        [(sent_as, negotiated)] = _CONVERSION.findall(result.stdout + result.stderr)
        assert sent_as == negotiated, option
        assert "Little Endian" not in negotiated or option == "-xd", option
        with runtime.units.read_only() as session:
            newest = session.scalars(select(Instance.object_key).order_by(Instance.id.desc()).limit(1)).one()
        with runtime.store.open(newest) as stream:
            assert pydicom.dcmread(stream).PatientID == pseudonym, option
    with runtime.units.read_only() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == len(COMPRESSED)


def test_storescu_instance_of_an_unknown_patient_gets_c001(
    scp: StorageScp, runtime: Runtime, patient: SyntheticPatient, tmp_path: Path
) -> None:
    [dataset, *_] = make_study(patient, SMALL_CT, patient_id="NEVER-REGISTERED")
    dataset.save_as(tmp_path / "IM0001", enforce_file_format=True)

    result = _dcmtk("storescu", scp, "-d", files=[tmp_path / "IM0001"])
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "0xc001" in output
    assert "unknown-patient" in output
    with runtime.units.read_only() as session:
        assert session.scalar(select(Instance.id)) is None
