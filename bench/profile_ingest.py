#!/usr/bin/env python3
"""Profile the ingest function in-process (no HTTP): where one instance's time goes, per modality.

Builds a few synthetic objects (``bench.ingest``'s generator), seeds an embedded service in a temporary directory,
and ingests each object through ``Runtime.ingestor`` — the function STOW-RS and the DIMSE SCP call — under
pyinstrument (``pip install pyinstrument``), printing the wall and CPU time per object and the call tree.

    .venv/bin/python -m bench.profile_ingest --ct 20 --cr 1 [--us 1] [--html profile.html]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from bench.ingest import build_corpus, prepare_service
from imaging_cloud.db.base import create_db_engine
from imaging_cloud.demo.synthetic import make_patient
from imaging_cloud.identity.models import Institution
from imaging_cloud.identity.service import XrefRegistration, register_xref
from imaging_cloud.ingest.outcome import Stored
from imaging_cloud.runtime import Runtime


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ct", type=int, default=20, help="CT slices (512x512, 16-bit)")
    parser.add_argument("--us", type=int, default=0, help="multi-frame US objects (30 frames 640x480)")
    parser.add_argument("--cr", type=int, default=1, help="CR images (2048x2048, 16-bit)")
    parser.add_argument("--html", type=Path, help="also write pyinstrument's HTML report here")
    parser.add_argument("--no-profile", action="store_true", help="only time each object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    patients = [make_patient(random.Random(7))]
    with tempfile.TemporaryDirectory(prefix="ic-profile-") as tmp:
        root = Path(tmp)
        (root / "corpus").mkdir()
        files = build_corpus(root / "corpus", args.ct, args.us, patients, cr=args.cr)
        settings = prepare_service(root / "service", patients)
        engine = create_db_engine(settings.effective_database_url)
        runtime = Runtime.build(settings, engine=engine)
        with runtime.units() as uow:
            institution = uow.session.query(Institution).one()
            register_xref(
                uow.session,
                runtime.keys,
                institution,
                XrefRegistration(patient_id="BENCH-0", issuer="", national_id=patients[0].national_id),
            )
            institution_id = institution.id
        runtime.ingestor.ingest(files[0].open("rb"), institution_id=institution_id)  # warm-up: imports, caches
        profiler = None
        if not args.no_profile:
            from pyinstrument import Profiler  # noqa: PLC0415 - a profiling tool, not a dependency

            profiler = Profiler(interval=0.001)
            profiler.start()
        timings: list[tuple[str, float, float]] = []
        for path in files[1:]:
            with path.open("rb") as source:
                started, cpu_started = time.perf_counter(), time.process_time()
                outcome = runtime.ingestor.ingest(source, institution_id=institution_id)
                seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
                timings.append((f"{path.stat().st_size / 1e6:6.1f} MB", seconds, cpu))
            if not isinstance(outcome, Stored):
                raise RuntimeError(f"{path.name}: {outcome}")
        if profiler is not None:
            profiler.stop()
        print("object      wall ms   CPU ms (all threads: what the object costs a loaded machine)")
        for name, seconds, cpu in timings:
            print(f"{name} {seconds * 1000:8.1f} {cpu * 1000:8.1f}")
        if profiler is not None:
            print(profiler.output_text(unicode=False, color=False, show_all=False))
            if args.html:
                args.html.write_text(profiler.output_html())
        engine.dispose()


if __name__ == "__main__":
    main()
