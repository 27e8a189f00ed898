"""The real app served by uvicorn on a loopback port, behind a gate that counts STOW requests and can fail some.

The gate is a plain ASGI wrapper on the server side (the way a flaky load balancer would behave): it reads the
whole request body and answers 503 for the first ``fail_next`` STOW requests. The uploader is never mocked.
"""

from __future__ import annotations

import contextlib
import random
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pydicom.dataset import Dataset
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imaging_cloud.app import create_app
from imaging_cloud.demo.loopback import serve_on_loopback
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_patient, make_study, to_bytes
from imaging_cloud.runtime import Runtime
from tests.conftest import Hospital

TINY = 64


@dataclass
class StowGate:
    """Counts STOW-RS requests reaching the service and answers 503 to the next ``fail_next`` of them."""

    app: ASGIApp
    fail_next: int = 0
    stow_requests: int = 0
    refused: int = 0
    statuses: list[int] = field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith("/dicomweb/studies")
        ):
            await self.app(scope, receive, send)
            return
        self.stow_requests += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            self.refused += 1
            while True:  # drain the body like a proxy would, then refuse
                message = await receive()
                if message["type"] != "http.request" or not message.get("more_body", False):
                    break
            await send({"type": "http.response.start", "status": 503, "headers": [(b"content-type", b"text/plain")]})
            await send({"type": "http.response.body", "body": b"busy"})
            return

        async def record(message: Message) -> None:
            if message["type"] == "http.response.start":
                self.statuses.append(int(message["status"]))
            await send(message)

        await self.app(scope, receive, record)


@dataclass
class LiveService:
    url: str
    gate: StowGate
    runtime: Runtime


@pytest.fixture
def live(runtime: Runtime) -> Iterator[LiveService]:
    gate = StowGate(create_app(runtime=runtime))
    with serve_on_loopback(gate) as url:
        yield LiveService(url=url, gate=gate, runtime=runtime)


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=30.0) as client:
        yield client


def register_over_http(
    http: httpx.Client, live: LiveService, hospital: Hospital, patient: SyntheticPatient, patient_id: str
) -> None:
    response = http.post(
        f"{live.url}/patients/xrefs",
        headers=hospital.headers,
        json={
            "patient_id": patient_id,
            "issuer": "",
            "national_id": patient.national_id,
            "health_card": patient.health_card,
            "name": patient.name_zh,
            "sex": patient.sex,
        },
    )
    assert response.status_code in (200, 201), response.text


def write_study(
    folder: Path, patient: SyntheticPatient, patient_id: str, count: int, *, seed: int = 1, modality: str = "CT"
) -> list[Path]:
    """``count`` tiny instances of one study written as Part 10 files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    spec = StudySpec(modality, "CHEST", "test", count, TINY, TINY)
    for number, ds in enumerate(make_study(patient, spec, patient_id=patient_id, seed=seed), start=1):
        path = folder / f"im{seed:03d}{number:04d}.dcm"
        path.write_bytes(to_bytes(ds))
        paths.append(path)
    return paths


def tiny_datasets(patient: SyntheticPatient, patient_id: str, count: int, seed: int = 1) -> list[Dataset]:
    return list(
        make_study(patient, StudySpec("CT", "CHEST", "test", count, TINY, TINY), patient_id=patient_id, seed=seed)
    )


@pytest.fixture
def other_patient() -> SyntheticPatient:
    return make_patient(random.Random(7))


@dataclass
class RecordingProxy:
    """Forwards loopback TCP connections to ``upstream`` and keeps every byte the client sent."""

    upstream: tuple[str, int]
    sent: bytearray = field(default_factory=bytearray)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _pump(self, source: socket.socket, target: socket.socket, record: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if record:
                    with self._lock:
                        self.sent.extend(chunk)
                target.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def _serve(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()


@pytest.fixture
def proxy(live: LiveService) -> Iterator[tuple[str, RecordingProxy]]:
    host, port = live.url.removeprefix("http://").split(":")
    recorder = RecordingProxy((host, int(port)))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    threading.Thread(target=recorder._serve, args=(listener,), daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", recorder
    listener.close()
