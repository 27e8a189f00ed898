#!/usr/bin/env python3
"""Read-path benchmark on PostgreSQL: QIDO-RS latency over a large index, WADO-RS against raw reads, /rendered.

Starts imaging-cloud on a fresh PostgreSQL database (the local server, reached over its Unix socket, dropped
afterwards) with the local object store, uploads a small sample of real CT slices (512x512, 16-bit) through STOW-RS,
then bulk-loads ``--instances`` synthetic index rows with COPY (studies of ``--per-study`` instances in two series,
spread over ``--institutions`` institutions and their persons, the same DICOM JSON attributes a real upload stores)
so the planner faces a realistically large index. As the sample's hospital uploader it then measures:

* QIDO-RS study search (by PatientID, by StudyDate range with limit, the newest-first page) p50/p95/p99;
* WADO-RS instance retrieve throughput (MB/s, sequential) as a ratio to reading the same object files raw;
* ``/rendered`` (JPEG) latency for a 512x512 CT slice.

    .venv/bin/python -m bench.read                        # 100k instances
    .venv/bin/python -m bench.read --instances 1000000    # the issue's figure (load takes minutes)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a file: make ``bench`` importable from the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench.ingest import build_corpus, free_port, prepare_service, register_uploader, start_server, stow
from bench.ingest_vs_orthanc import PG_SOCKET_DIR, fresh_database, stop
from imaging_cloud.demo.synthetic import make_patient

SERIES_PER_STUDY = 2


def percentiles(samples: list[float]) -> tuple[float, float, float]:
    """p50, p95, p99 in milliseconds of ``samples`` given in seconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[94] * 1000, cuts[98] * 1000


def sql_url_to_conninfo(database_url: str) -> dict[str, str]:
    return {"host": PG_SOCKET_DIR, "user": "postgres", "dbname": str(make_url(database_url).database)}


def bulk_load(conninfo: dict[str, str], args: argparse.Namespace, bench_institution: int) -> tuple[int, float]:
    """COPY synthetic institutions, persons, studies, series and instances; (instances loaded, seconds)."""
    rng = random.Random(11)
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    with psycopg.connect(**conninfo) as db:
        template_study, template_series, template_instance, person_id = db.execute(
            "SELECT s.attributes::text, se.attributes::text, i.attributes::text, s.person_id FROM instances i "
            "JOIN series se ON se.id = i.series_id JOIN studies s ON s.id = i.study_id LIMIT 1"
        ).fetchone() or (None, None, None, None)
        if template_study is None:
            raise RuntimeError("the sample upload left no index rows to copy attributes from")
        with db.cursor() as cur:
            with cur.copy("COPY institutions (code, name, own_institution_access, created_at) FROM STDIN") as copy:
                for i in range(args.institutions - 1):
                    copy.write_row((f"SYN{i:04d}", f"合成医院{i}", True, now))
            institutions = [bench_institution] + [
                row[0] for row in cur.execute("SELECT id FROM institutions WHERE code LIKE 'SYN%' ORDER BY id")
            ]
            persons_wanted = max(1, args.instances // (args.per_study * 3))
            with cur.copy(
                "COPY persons (national_id_hash, national_id_encrypted, pseudonym, created_at) FROM STDIN"
            ) as copy:
                for _ in range(persons_wanted):
                    copy.write_row((secrets.token_hex(32), secrets.token_bytes(48), secrets.token_hex(16), now))
            persons = [row[0] for row in cur.execute("SELECT id FROM persons WHERE id <> %s", (person_id,))]
            studies = max(1, args.instances // args.per_study)
            study_ids = _copy_studies(cur, rng, studies, institutions, persons, template_study, now)
            series_ids = _copy_series(cur, study_ids, template_series, now)
            loaded = _copy_instances(cur, study_ids, series_ids, args.per_study, template_instance, now)
        db.commit()
        db.execute("ANALYZE")
    return loaded, time.perf_counter() - started


def _uid() -> str:
    return f"2.25.{secrets.randbits(120)}"


def _copy_studies(
    cur: psycopg.Cursor[tuple[object, ...]],
    rng: random.Random,
    count: int,
    institutions: list[int],
    persons: list[int],
    template: str,
    now: dt.datetime,
) -> list[tuple[int, int]]:
    """Studies spread over institutions and persons; returns (study id, institution id) pairs."""
    marker = json.loads(template).get("0020000D", {}).get("Value", [""])[0]
    columns = (
        "study_uid, person_id, institution_id, study_date, study_time, study_description, study_id, "
        "accession_number, modalities, body_parts, attributes, created_at"
    )
    with cur.copy(f"COPY studies ({columns}) FROM STDIN") as copy:
        for n in range(count):
            uid = _uid()
            date = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(0, 2000))
            copy.write_row(
                (
                    uid,
                    rng.choice(persons),
                    rng.choice(institutions),
                    f"{date:%Y%m%d}",
                    "093000",
                    "胸部CT",
                    f"S{n % 10**8:08d}",
                    f"A{n:010d}",
                    "CT",
                    "CHEST",
                    template.replace(marker, uid) if marker else template,
                    now,
                )
            )
    return [
        (int(r[0]), int(r[1])) for r in cur.execute("SELECT id, institution_id FROM studies WHERE study_id LIKE 'S%'")
    ]


def _copy_series(
    cur: psycopg.Cursor[tuple[object, ...]], studies: list[tuple[int, int]], template: str, now: dt.datetime
) -> dict[int, list[int]]:
    columns = "series_uid, study_id, modality, series_number, series_description, body_part, attributes, created_at"
    with cur.copy(f"COPY series ({columns}) FROM STDIN") as copy:
        for study_id, _ in studies:
            for number in range(1, SERIES_PER_STUDY + 1):
                copy.write_row((_uid(), study_id, "CT", number, "胸部CT CT", "CHEST", template, now))
    series: dict[int, list[int]] = {}
    wanted = {study_id for study_id, _ in studies}
    for series_id, study_id in cur.execute("SELECT id, study_id FROM series ORDER BY id"):
        if study_id in wanted:
            series.setdefault(int(study_id), []).append(int(series_id))
    return series


def _copy_instances(
    cur: psycopg.Cursor[tuple[object, ...]],
    studies: list[tuple[int, int]],
    series: dict[int, list[int]],
    per_study: int,
    template: str,
    now: dt.datetime,
) -> int:
    columns = (
        "sop_uid, sop_class_uid, series_id, study_id, institution_id, instance_number, number_of_frames, rows, "
        "columns, transfer_syntax_uid, object_key, size, sha256, attributes, created_at"
    )
    loaded = 0
    with cur.copy(f"COPY instances ({columns}) FROM STDIN") as copy:
        for study_id, institution_id in studies:
            for index in range(per_study):
                series_id = series[study_id][index % SERIES_PER_STUDY]
                copy.write_row(
                    (
                        _uid(),
                        "1.2.840.10008.5.1.4.1.1.2",
                        series_id,
                        study_id,
                        institution_id,
                        index + 1,
                        1,
                        512,
                        512,
                        "1.2.840.10008.1.2.1",
                        f"synthetic/{study_id}/{index}",
                        526_000,
                        "0" * 64,
                        template,
                        now,
                    )
                )
                loaded += 1
    return loaded


def timed_get(client: httpx.Client, url: str, accept: str | None = None) -> tuple[float, httpx.Response]:
    """Seconds one GET took (status checked) and its response."""
    started = time.perf_counter()
    response = client.get(url, headers={"Accept": accept} if accept else None)
    seconds = time.perf_counter() - started
    response.raise_for_status()
    return seconds, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--instances", type=int, default=100_000, help="synthetic index rows (instances)")
    parser.add_argument("--per-study", type=int, default=100, help="instances per synthetic study")
    parser.add_argument("--institutions", type=int, default=50, help="institutions the synthetic studies spread over")
    parser.add_argument("--sample", type=int, default=40, help="real CT slices uploaded (retrieve / rendered)")
    parser.add_argument("--queries", type=int, default=200, help="QIDO requests per query kind")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    args = parser.parse_args()

    rng = random.Random(7)
    patients = [make_patient(rng) for _ in range(3)]
    with tempfile.TemporaryDirectory(prefix="ic-bench-read-") as tmp, fresh_database() as database_url:
        root = Path(tmp)
        (root / "corpus").mkdir()
        files = build_corpus(root / "corpus", args.sample, 0, patients)
        settings = prepare_service(root / "service", patients, database_url=database_url)
        port = free_port()
        server = start_server(settings, port, args.workers, {"IMAGING_CLOUD_DATABASE_URL": database_url})
        try:
            base = f"http://127.0.0.1:{port}"
            token = register_uploader(base, patients)
            with httpx.Client(base_url=base) as client:
                stow(client, token, files)
            conninfo = sql_url_to_conninfo(database_url)
            with psycopg.connect(**conninfo) as db:
                bench_institution = db.execute("SELECT id FROM institutions WHERE code = 'BENCH'").fetchone()[0]
                sample = db.execute(
                    "SELECT s.study_uid, se.series_uid, i.sop_uid, i.object_key, i.size, p.pseudonym "
                    "FROM instances i JOIN series se ON se.id = i.series_id JOIN studies s ON s.id = i.study_id "
                    "JOIN persons p ON p.id = s.person_id ORDER BY i.id"
                ).fetchall()
            loaded, load_seconds = bulk_load(conninfo, args, bench_institution)
            print(
                f"index: {loaded + len(sample)} instances ({loaded} synthetic rows COPY'd in {load_seconds:.1f} s, "
                f"{len(sample)} real), {args.institutions} institutions",
                flush=True,
            )
            report(base, token, sample, settings.data_dir / "objects", args)
        finally:
            stop(server)


def report(base: str, token: str, sample: list[tuple[object, ...]], objects: Path, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    pseudonyms = sorted({str(row[5]) for row in sample})
    rows: list[tuple[str, float, float, float, str]] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        kinds: dict[str, Callable[[int], str]] = {
            "QIDO studies?PatientID=<pseudonym>": lambda n: (
                f"/dicomweb/studies?PatientID={pseudonyms[n % len(pseudonyms)]}"
            ),
            "QIDO studies?StudyDate=<1 month>&limit=25": lambda n: (
                f"/dicomweb/studies?StudyDate=2021{1 + n % 12:02d}01-2021{1 + n % 12:02d}28&limit=25"
            ),
            "QIDO studies?limit=25 (newest first)": lambda n: "/dicomweb/studies?limit=25",
        }
        every: list[float] = []
        for name, url in kinds.items():
            timed_get(client, url(0))  # warm the connection and the plan
            samples = []
            for n in range(args.queries):
                seconds, response = timed_get(client, url(n))
                samples.append(seconds)
            every += samples
            rows.append((name, *percentiles(samples), f"{len(response.json())} results"))
        rows.append(("QIDO all of the above", *percentiles(every), ""))

        rendered = []
        for n in range(max(50, len(sample))):
            study, series, sop = (str(v) for v in sample[n % len(sample)][:3])
            url = f"/dicomweb/studies/{study}/series/{series}/instances/{sop}/rendered"
            seconds, response = timed_get(client, url, "image/jpeg")
            rendered.append(seconds)
        rows.append(("/rendered JPEG, 512x512 CT slice", *percentiles(rendered), f"{len(response.content)} B"))

        wado_rate, raw_rate = retrieve_vs_raw(client, sample, objects)

    machine = f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, {dt.date.today()}"
    print(f"\nmachine: {machine}; PostgreSQL, local object store, {args.workers} workers, one sequential client")
    print(f"{'request':<44} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}  note")
    for name, p50, p95, p99, note in rows:
        print(f"{name:<44} {p50:8.2f} {p95:8.2f} {p99:8.2f}  {note}")
    qido_p95 = percentiles(every)[1]
    print(f"goal QIDO p95 < 20 ms: {qido_p95:.2f} ms -> {'MET' if qido_p95 < 20 else 'NOT MET'}")
    ratio = wado_rate / raw_rate
    print(
        f"WADO-RS instance retrieve {wado_rate:.1f} MB/s vs raw read of the same files {raw_rate:.1f} MB/s "
        f"(page cache): ratio {ratio:.3f} -> goal >= 0.7 {'MET' if ratio >= 0.7 else 'NOT MET'}"
    )


def retrieve_vs_raw(client: httpx.Client, sample: list[tuple[object, ...]], objects: Path) -> tuple[float, float]:
    """Best of 3 rounds, sequential: WADO-RS instance MB/s (bytes of the stored objects) and raw-read MB/s."""
    paths = [objects / str(row[3]) for row in sample]
    total = sum(int(str(row[4])) for row in sample)
    if not all(path.is_file() for path in paths):
        raise RuntimeError(f"objects not found under {objects}")
    wado, raw = [], []
    for _ in range(3):
        started = time.perf_counter()
        for row in sample:
            study, series, sop = (str(v) for v in row[:3])
            response = client.get(
                f"/dicomweb/studies/{study}/series/{series}/instances/{sop}",
                headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
            )
            response.raise_for_status()
        wado.append(time.perf_counter() - started)
        started = time.perf_counter()
        for path in paths:
            path.read_bytes()
        raw.append(time.perf_counter() - started)
    return total / 1e6 / min(wado), total / 1e6 / min(raw)


if __name__ == "__main__":
    main()
