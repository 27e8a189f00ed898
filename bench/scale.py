#!/usr/bin/env python3
"""1 against 2 service processes on one PostgreSQL + S3, under a mixed STOW-RS / QIDO-RS / WADO-RS load.

For each process count (``--processes 1,2``) the script creates a fresh PostgreSQL database on the local server
(reached over its Unix socket, dropped afterwards) and a throwaway SeaweedFS S3 server (``weed mini``, the same
helper the tests use), starts imaging-cloud with that many uvicorn worker processes on one loopback port (the
kernel spreads connections over them), uploads ``--preload`` CT slices, and then drives each mix with a bounded
client: ``--clients`` threads, each with its own connection, sharing ``--operations`` requests per mix. Every
answer must be a 2xx: anything else (or a transport error) is counted as an error. Printed per mix and process
count: requests/s, instances stored per second, p50/p95 latency and errors, then the 2-vs-1 ratio per mix.

Mixes (weights STOW:QIDO:WADO, a STOW request carries ``--stow-batch`` new CT slices; QIDO is a study search by
PatientID or a one-month StudyDate range; WADO retrieves one instance):

* ``read``   0:50:50
* ``mixed``  20:40:40
* ``write``  100:0:0

    .venv/bin/python -m bench.scale                      # 1 vs 2 processes, all mixes (~5 minutes)
    .venv/bin/python -m bench.scale --quick              # smoke run
    .venv/bin/python -m bench.scale --mixes mixed --operations 1000 --clients 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``bench`` and ``tests`` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg

from bench.ingest import build_corpus, free_port, prepare_service, register_uploader, start_server, stow
from bench.ingest_vs_orthanc import fresh_database, stop
from bench.read import sql_url_to_conninfo
from imaging_cloud.demo.synthetic import SyntheticPatient, make_patient

#: weights of (STOW, QIDO, WADO) per mix
MIXES: dict[str, tuple[int, int, int]] = {"read": (0, 50, 50), "mixed": (20, 40, 40), "write": (100, 0, 0)}
KINDS = ("stow", "qido", "wado")
DICOM = 'multipart/related; type="application/dicom"; transfer-syntax=*'


def _process_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of process counts, e.g. 1,2") from None
    if not counts or any(count < 1 or count > 16 for count in counts):
        raise argparse.ArgumentTypeError("process counts must be between 1 and 16")
    return counts


def _mixes(text: str) -> list[str]:
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in MIXES]
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"mixes are a comma-separated subset of {', '.join(MIXES)}")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--processes", type=_process_counts, default=[1, 2], help="service process counts: 1,2")
    parser.add_argument("--mixes", type=_mixes, default=list(MIXES), help="subset of read,mixed,write")
    parser.add_argument("--clients", type=_positive, default=6, help="concurrent client threads (bounded load)")
    parser.add_argument("--operations", type=_positive, default=400, help="requests per mix")
    parser.add_argument("--preload", type=_positive, default=200, help="CT slices uploaded before the mixes")
    parser.add_argument("--stow-batch", type=_positive, default=5, help="new CT slices per STOW request")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1,2 processes, 60 requests per mix")
    args = parser.parse_args(argv)
    if args.quick:
        args.operations, args.preload, args.clients = 60, 40, 4
    return args


@dataclass
class MixResult:
    mix: str
    processes: int
    seconds: float = 0.0
    requests: int = 0
    stored: int = 0
    errors: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {kind: [] for kind in KINDS})

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def plan(mix: str, operations: int, seed: int = 8) -> list[str]:
    """The request kinds of one mix, in a fixed pseudo-random order with exactly the mix's proportions."""
    weights = MIXES[mix]
    total = sum(weights)
    kinds: list[str] = []
    for kind, weight in zip(KINDS, weights, strict=True):
        kinds += [kind] * round(operations * weight / total)
    kinds = kinds[:operations] + [KINDS[weights.index(max(weights))]] * (operations - len(kinds))
    random.Random(seed).shuffle(kinds)
    return kinds


def stow_batches_needed(mixes: list[str], operations: int) -> int:
    return sum(plan(mix, operations).count("stow") for mix in mixes)


@dataclass(frozen=True)
class Sample:
    """What the read requests pick from: stored instances and the pseudonyms of their patients."""

    instances: list[tuple[str, str, str]]
    pseudonyms: list[str]


class Batches:
    """New CT slices for STOW requests, handed out once each to whichever client thread asks."""

    def __init__(self, files: list[Path], size: int) -> None:
        self._batches = iter([files[i : i + size] for i in range(0, len(files), size)])
        self._lock = threading.Lock()

    def next(self) -> list[Path]:
        with self._lock:
            return next(self._batches)


class Load:
    """One client thread's requests, over its own connection."""

    def __init__(self, base: str, token: str, sample: Sample, batches: Batches) -> None:
        self._client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=120)
        self._token = token
        self._sample = sample
        self._batches = batches

    def request(self, index: int, kind: str) -> tuple[str, float, int, bool]:
        """(kind, seconds, instances stored, ok) of request number ``index``."""
        client = self._client
        started = time.perf_counter()
        stored = 0
        try:
            if kind == "stow":
                stored = stow(client, self._token, self._batches.next())
                ok = True
            elif kind == "qido":
                ok = client.get(self._qido_url(index)).is_success
            else:
                study, series, sop = self._sample.instances[index % len(self._sample.instances)]
                url = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}"
                response = client.get(url, headers={"Accept": DICOM})
                ok = response.is_success and len(response.content) > 0
        except (httpx.HTTPError, RuntimeError):
            ok = False
        return kind, time.perf_counter() - started, stored, ok

    def _qido_url(self, index: int) -> str:
        if index % 2:
            return f"/dicomweb/studies?PatientID={self._sample.pseudonyms[index % len(self._sample.pseudonyms)]}"
        month = 1 + index % 12
        return f"/dicomweb/studies?StudyDate=2025{month:02d}01-2025{month:02d}28&limit=25"

    def close(self) -> None:
        self._client.close()


def run_mix(load_factory: Callable[[], Load], mix: str, processes: int, args: argparse.Namespace) -> MixResult:
    result = MixResult(mix, processes)
    kinds = plan(mix, args.operations)
    loads: list[Load] = []
    lock = threading.Lock()
    local = threading.local()

    def one(item: tuple[int, str]) -> tuple[str, float, int, bool]:
        load: Load | None = getattr(local, "load", None)
        if load is None:
            load = load_factory()
            local.load = load
            with lock:
                loads.append(load)
        return load.request(*item)

    started = time.perf_counter()
    with ThreadPoolExecutor(args.clients) as pool:
        outcomes = list(pool.map(one, enumerate(kinds)))
    result.seconds = time.perf_counter() - started
    for load in loads:
        load.close()
    for kind, seconds, stored, ok in outcomes:
        result.requests += 1
        result.stored += stored
        result.errors += not ok
        result.latencies[kind].append(seconds)
    return result


def _sample(database_url: str) -> Sample:
    with psycopg.connect(**sql_url_to_conninfo(database_url)) as db:
        rows = db.execute(
            "SELECT s.study_uid, se.series_uid, i.sop_uid, p.pseudonym FROM instances i "
            "JOIN series se ON se.id = i.series_id JOIN studies s ON s.id = i.study_id "
            "JOIN persons p ON p.id = s.person_id ORDER BY i.id"
        ).fetchall()
    return Sample([(r[0], r[1], r[2]) for r in rows], sorted({r[3] for r in rows}))


@contextmanager
def service(
    root: Path, processes: int, patients: list[SyntheticPatient], preload: list[Path]
) -> Iterator[tuple[str, str, Sample]]:
    """imaging-cloud with ``processes`` workers on a fresh database + S3, preloaded; (base URL, token, sample)."""
    from tests.s3_server import running_s3_server  # noqa: PLC0415 - test helper, needed only when running

    with fresh_database() as database_url, running_s3_server() as s3:
        env = {
            "IMAGING_CLOUD_DATABASE_URL": database_url,
            "IMAGING_CLOUD_OBJECT_STORE": "s3",
            "IMAGING_CLOUD_S3_ENDPOINT": s3.endpoint,
            "IMAGING_CLOUD_S3_BUCKET": f"bench-scale-{processes}",
            "IMAGING_CLOUD_S3_ACCESS_KEY": s3.access_key,
            "IMAGING_CLOUD_S3_SECRET_KEY": s3.secret_key,
            "IMAGING_CLOUD_S3_REGION": s3.region,
        }
        overrides = {key.removeprefix("IMAGING_CLOUD_").lower(): value for key, value in env.items()}
        settings = prepare_service(root / f"service-{processes}", patients, **overrides)
        port = free_port()
        server = start_server(settings, port, processes, env)
        try:
            base = f"http://127.0.0.1:{port}"
            token = register_uploader(base, patients)
            with httpx.Client(base_url=base) as client:
                for start in range(0, len(preload), 20):
                    stow(client, token, preload[start : start + 20])
            yield base, token, _sample(database_url)
        finally:
            stop(server)


def print_table(results: list[MixResult], args: argparse.Namespace) -> None:
    load = os.getloadavg()
    print(
        f"\nmachine: {os.cpu_count()} cores, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}, Python "
        f"{sys.version.split()[0]}, {dt.date.today()}; PostgreSQL + S3 (SeaweedFS); {args.clients} clients, "
        f"{args.operations} requests per mix, {args.stow_batch} CT slices per STOW"
    )
    print(f"{'mix':<7} {'procs':>5} {'req/s':>8} {'inst/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'errors':>6}")
    for r in results:
        every = sorted(s for samples in r.latencies.values() for s in samples)
        p50 = statistics.median(every) * 1000
        p95 = every[min(len(every) - 1, int(len(every) * 0.95))] * 1000
        stored_rate = r.stored / r.seconds if r.seconds else 0.0
        print(f"{r.mix:<7} {r.processes:>5} {r.rate:8.1f} {stored_rate:7.1f} {p50:8.1f} {p95:8.1f} {r.errors:>6}")
    counts = sorted({r.processes for r in results})
    if len(counts) >= 2:
        low, high = counts[0], counts[-1]
        for mix in dict.fromkeys(r.mix for r in results):
            by = {r.processes: r for r in results if r.mix == mix}
            ratio = by[high].rate / by[low].rate if by[low].rate else float("nan")
            print(f"{mix}: {high} processes / {low} = {ratio:.2f}x")
    total_errors = sum(r.errors for r in results)
    print(f"errors: {total_errors} ({'OK' if total_errors == 0 else 'MUST BE 0'})")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = random.Random(7)
    patients = [make_patient(rng) for _ in range(5)]
    with tempfile.TemporaryDirectory(prefix="ic-bench-scale-") as tmp:
        root = Path(tmp)
        (root / "preload").mkdir()
        (root / "stow").mkdir()
        preload = build_corpus(root / "preload", args.preload, 0, patients)
        requests = stow_batches_needed(args.mixes, args.operations)
        fresh = build_corpus(root / "stow", requests * args.stow_batch, 0, patients)
        print(f"corpus: {len(preload)} preloaded CT slices, {len(fresh)} for STOW ({requests} requests)", flush=True)
        results: list[MixResult] = []
        for processes in args.processes:
            with service(root, processes, patients, preload) as (base, token, sample):
                # Each run starts on a fresh database: the same new slices are new again.
                batches = Batches(fresh, args.stow_batch)
                for mix in args.mixes:
                    result = run_mix(functools.partial(Load, base, token, sample, batches), mix, processes, args)
                    results.append(result)
                    print(
                        f"  {processes} process(es), {mix}: {result.rate:.1f} req/s, {result.errors} errors",
                        flush=True,
                    )
        print_table(results, args)


if __name__ == "__main__":
    main()
