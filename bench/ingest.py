#!/usr/bin/env python3
"""STOW-RS ingest benchmark on the embedded default (SQLite + local object store), against copying the same bytes.

Builds a synthetic corpus (CT 512x512 16-bit slices + multi-frame US), starts the service on loopback, pushes the
corpus with N parallel STOW-RS clients, and prints instances/s, MB/s and the server's peak RSS beside the time to
simply copy the same files to disk (the ratio is what to watch). ``--big-request-gb`` adds one single STOW request
of that many GB to show the server's memory stays flat while it streams.

    .venv/bin/python bench/ingest.py --ct 2000 --us 10 --clients 5 --workers 2 --big-request-gb 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from auth.principals import Role
from imaging_cloud.accounts.service import create_account, create_institution
from imaging_cloud.db.base import create_db_engine
from imaging_cloud.db.migrate import upgrade
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_patient, make_study
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings

BATCH = 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build_corpus(root: Path, ct: int, us: int, patients: list[SyntheticPatient], cr: int = 0) -> list[Path]:
    """CT series of 100 slices (512x512, 16-bit), ``us`` 30-frame US objects and ``cr`` CR images (2048x2048)."""
    files: list[Path] = []
    per_study = 100
    for start in range(0, ct, per_study):
        patient = patients[(start // per_study) % len(patients)]
        spec = StudySpec("CT", "CHEST", "胸部CT", instances=min(per_study, ct - start))
        for ds in make_study(patient, spec, patient_id=f"BENCH-{patients.index(patient)}", seed=start):
            path = root / f"{uuid.uuid4().hex}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
    for index in range(us):
        patient = patients[index % len(patients)]
        spec = StudySpec("US", "ABDOMEN", "腹部超声", instances=1, rows=480, columns=640, frames=30)
        for ds in make_study(patient, spec, patient_id=f"BENCH-{patients.index(patient)}", seed=10_000 + index):
            path = root / f"{uuid.uuid4().hex}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
    for index in range(cr):
        patient = patients[index % len(patients)]
        spec = StudySpec("CR", "CHEST", "胸部平片", instances=1, rows=2048, columns=2048)
        for ds in make_study(patient, spec, patient_id=f"BENCH-{patients.index(patient)}", seed=20_000 + index):
            path = root / f"{uuid.uuid4().hex}.dcm"
            ds.save_as(path, enforce_file_format=True)
            files.append(path)
    return files


def copy_baseline(files: list[Path], target: Path) -> float:
    target.mkdir()
    started = time.perf_counter()
    for path in files:
        shutil.copyfile(path, target / path.name)
    os.sync()
    return time.perf_counter() - started


def multipart(paths: list[Path], boundary: str) -> Iterator[bytes]:
    for path in paths:
        yield f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                yield chunk
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def stow(client: httpx.Client, token: str | None, paths: list[Path], url: str = "/dicomweb/studies") -> int:
    """One STOW-RS request carrying ``paths``; ``token=None`` sends no Authorization (a peer without auth)."""
    boundary = uuid.uuid4().hex
    headers = {"Content-Type": f'multipart/related; type="application/dicom"; boundary={boundary}'}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    response = client.post(url, content=multipart(paths, boundary), timeout=600, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"STOW answered {response.status_code}: {response.text[:300]}")
    return len(paths)


def process_tree_rss_kib(pid: int) -> int:
    """Current RSS of ``pid`` and its children (uvicorn workers), in KiB."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            continue
    return total


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, process_tree_rss_kib(self.pid))
            time.sleep(0.05)

    def __enter__(self) -> RssSampler:
        self.peak_kib = process_tree_rss_kib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def prepare_service(data_dir: Path, patients: list[SyntheticPatient], **overrides: object) -> Settings:
    """Migrate and seed one institution plus its uploader account; ``overrides`` are further ``Settings`` fields."""
    settings = Settings(data_dir=data_dir, max_request_bytes=8 * 1024**3, **overrides)  # type: ignore[arg-type]
    data_dir.mkdir(parents=True, exist_ok=True)
    engine = create_db_engine(settings.effective_database_url)
    upgrade(engine)
    runtime = Runtime.build(settings, engine=engine)
    with runtime.units() as uow:
        create_institution(uow.session, "BENCH", "基准测试医院")
        create_account(uow.session, "bench-uploader", "bench-uploader-secret", Role.HOSPITAL, "BENCH")
    engine.dispose()
    return settings


def start_server(
    settings: Settings, port: int, workers: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """uvicorn with ``workers`` processes on loopback; ``extra_env`` carries further ``IMAGING_CLOUD_*`` settings."""
    env = {
        **os.environ,
        "IMAGING_CLOUD_DATA_DIR": str(settings.data_dir),
        "IMAGING_CLOUD_MAX_REQUEST_BYTES": str(settings.max_request_bytes),
        **(extra_env or {}),
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "imaging_cloud.app:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("the service did not start")


def register_uploader(base: str, patients: list[SyntheticPatient]) -> str:
    """The uploader's access token, after mapping each ``BENCH-<n>`` PatientID to its patient's national ID."""
    with httpx.Client(base_url=base) as client:
        token: str = client.post(
            "/auth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "bench-uploader",
                "client_secret": "bench-uploader-secret",
            },
        ).json()["access_token"]
        for index, patient in enumerate(patients):
            client.post(
                "/patients/xrefs",
                headers={"Authorization": f"Bearer {token}"},
                json={"patient_id": f"BENCH-{index}", "national_id": patient.national_id},
            ).raise_for_status()
    return token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ct", type=int, default=2000, help="CT slices (512x512, 16-bit)")
    parser.add_argument("--us", type=int, default=10, help="multi-frame US objects (30 frames 640x480)")
    parser.add_argument("--clients", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--big-request-gb", type=float, default=0.0, help="one STOW request of this size (GB)")
    args = parser.parse_args()

    rng = random.Random(7)
    patients = [make_patient(rng) for _ in range(5)]
    with tempfile.TemporaryDirectory(prefix="ic-bench-") as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        corpus.mkdir()
        t0 = time.perf_counter()
        files = build_corpus(corpus, args.ct, args.us, patients)
        total_bytes = sum(p.stat().st_size for p in files)
        print(f"corpus: {len(files)} instances, {total_bytes / 1e6:.0f} MB (built in {time.perf_counter() - t0:.1f} s)")
        copy_seconds = copy_baseline(files, root / "copy")

        settings = prepare_service(root / "service", patients)
        port = free_port()
        server = start_server(settings, port, args.workers)
        try:
            base = f"http://127.0.0.1:{port}"
            token = register_uploader(base, patients)
            batches = [files[i : i + BATCH] for i in range(0, len(files), BATCH)]
            with RssSampler(server.pid) as rss, httpx.Client(base_url=base) as client:
                started = time.perf_counter()
                with ThreadPoolExecutor(args.clients) as pool:
                    stored = sum(pool.map(lambda batch: stow(client, token, batch), batches))
                ingest_seconds = time.perf_counter() - started
            rows = [
                ("imaging-cloud STOW-RS (de-identify + verify + store + index)", ingest_seconds, stored),
                ("copy the same files (shutil.copyfile + sync)", copy_seconds, len(files)),
            ]
            print(
                f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {dt.date.today()}; "
                f"{args.clients} clients, {args.workers} server workers, {BATCH} instances per request"
            )
            print(f"{'run':<62} {'seconds':>8} {'inst/s':>8} {'MB/s':>8}")
            for name, seconds, count in rows:
                print(f"{name:<62} {seconds:8.2f} {count / seconds:8.1f} {total_bytes / 1e6 / seconds:8.1f}")
            print(f"ratio ingest/copy throughput: {copy_seconds / ingest_seconds:.3f}")
            print(f"server peak RSS during ingest: {rss.peak_kib / 1024:.0f} MiB (all workers)")

            if args.big_request_gb > 0:
                big_request(base, token, patients, root, args.big_request_gb, server.pid)
        finally:
            server.send_signal(signal.SIGINT)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()


def big_request(
    base: str, token: str, patients: list[SyntheticPatient], root: Path, gigabytes: float, pid: int
) -> None:
    """One STOW request carrying ``gigabytes`` of CT slices, streamed from disk, while server RSS is sampled."""
    folder = root / "big"
    folder.mkdir()
    slice_bytes = 512 * 512 * 2
    count = int(gigabytes * 1e9 / slice_bytes)
    files = build_corpus(folder, count, 0, patients[:1])
    size = sum(p.stat().st_size for p in files)
    with RssSampler(pid) as rss, httpx.Client(base_url=base) as client:
        before = process_tree_rss_kib(pid)
        started = time.perf_counter()
        stow(client, token, files)
        seconds = time.perf_counter() - started
    print(
        f"\nsingle request of {size / 1e9:.2f} GB ({len(files)} instances): {seconds:.1f} s, "
        f"{len(files) / seconds:.1f} inst/s; server RSS before {before / 1024:.0f} MiB, "
        f"peak during {rss.peak_kib / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
