"""Fixtures for the DICOMweb read side: studies uploaded through the real STOW route, a multipart reader, and the
app served by a real uvicorn on a random loopback port (for dicomweb-client)."""

from __future__ import annotations

import datetime as dt
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydicom.dataset import Dataset

from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_study
from tests.conftest import Hospital, register
from tests.stow_client import stow_body

SMALL_CT = StudySpec("CT", "CHEST", "胸部CT平扫", instances=3, rows=64, columns=64)
SMALL_MR = StudySpec("MR", "HEAD", "Brain MR routine", instances=2, rows=64, columns=64)
SMALL_US = StudySpec("US", "ABDOMEN", "Abdomen US", instances=1, rows=64, columns=64, frames=3)


@dataclass(frozen=True)
class Uploaded:
    """De-identified UIDs of what one STOW request stored (in upload order)."""

    study_uid: str
    series_uid: str
    sop_uids: tuple[str, ...]

    @property
    def sop_uid(self) -> str:
        return self.sop_uids[0]

    @property
    def instance_path(self) -> str:
        return f"/dicomweb/studies/{self.study_uid}/series/{self.series_uid}/instances/{self.sop_uid}"


_INSTANCE_URL = re.compile(r"/studies/([0-9.]+)/series/([0-9.]+)/instances/([0-9.]+)$")


def upload(client: TestClient, hospital: Hospital, datasets: Iterable[Dataset]) -> Uploaded:
    """Store ``datasets`` through ``POST /dicomweb/studies`` as ``hospital``; all must be stored."""
    body, content_type = stow_body(datasets)
    response = client.post(
        "/dicomweb/studies", content=body, headers={**hospital.headers, "Content-Type": content_type}
    )
    assert response.status_code == 200, response.text
    found = []
    for item in response.json()["00081199"]["Value"]:
        match = _INSTANCE_URL.search(item["00081190"]["Value"][0])
        assert match is not None
        found.append(match.groups())
    assert len({(study, series) for study, series, _ in found}) == 1
    return Uploaded(found[0][0], found[0][1], tuple(sop for _, _, sop in found))


def study_of(
    patient: SyntheticPatient,
    spec: StudySpec,
    patient_id: str,
    study_date: dt.date,
    *,
    seed: int = 0,
    study_uid: str | None = None,
) -> list[Dataset]:
    return list(make_study(patient, spec, patient_id=patient_id, study_date=study_date, seed=seed, study_uid=study_uid))


@dataclass(frozen=True)
class TwoStudies:
    """Hospital A's CT (2025-02-01, 3 instances) and MR (2025-06-01, 2 instances) of one patient."""

    ct: Uploaded
    mr: Uploaded
    pseudonym: str


@pytest.fixture
def two_studies(client: TestClient, hospital_a: Hospital, patient: SyntheticPatient) -> TwoStudies:
    pseudonym = register(client, hospital_a, patient, "MRN-001")
    ct = upload(client, hospital_a, study_of(patient, SMALL_CT, "MRN-001", dt.date(2025, 2, 1), seed=1))
    mr = upload(client, hospital_a, study_of(patient, SMALL_MR, "MRN-001", dt.date(2025, 6, 1), seed=2))
    return TwoStudies(ct=ct, mr=mr, pseudonym=pseudonym)


@dataclass(frozen=True)
class BodyPart:
    headers: dict[str, str]
    content: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def multipart_parts(content_type: str, body: bytes) -> list[BodyPart]:
    """Split a ``multipart/related`` body by its boundary (a strict reader: the test fails on sloppy framing)."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    assert match is not None, content_type
    delimiter = b"--" + match.group(1).encode()
    assert body.startswith(delimiter + b"\r\n")
    assert body.endswith(b"\r\n" + delimiter + b"--\r\n")
    chunks = body[len(delimiter) :].split(b"\r\n" + delimiter)
    assert chunks.pop() == b"--\r\n"
    parts = []
    for chunk in chunks:
        assert chunk.startswith(b"\r\n")
        head, separator, content = chunk[2:].partition(b"\r\n\r\n")
        assert separator
        headers = {}
        for line in head.decode("ascii").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append(BodyPart(headers, content))
    return parts


@pytest.fixture
def live_server(app: FastAPI) -> Iterator[str]:
    """The app on a real uvicorn server at ``http://127.0.0.1:<random port>``, stopped after the test."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{url}/healthz").status_code == 200
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
