#!/usr/bin/env python3
"""De-identification benchmark: ``deidentify`` against a bare pydicom read + write and against dicognito.

Builds a synthetic corpus once (CT 512x512 16-bit slices and multi-frame 640x480 US objects whose every frame
carries burned-in Chinese name, national ID, pinyin name and date), then, on the very same files, in one
process (so the figures are per core; the OCR engine is held to one thread):

* ``bare read+write``   ``pydicom.dcmread`` + ``dcmwrite`` to memory: the floor any pydicom-based tool pays;
* ``dicognito``          the same read + ``dicognito.Anonymizer().anonymize`` + write;
* ``deid header``        read + ``deidentify`` with ``clinical-sharing`` minus Clean Pixel Data + write;
* ``deid header+verify`` the same plus ``deidentify.verify`` of the written bytes (what the CLI and ingest do);
* ``deid with OCR``      read + ``deidentify`` with ``clinical-sharing`` (Clean Pixel Data on) + write.

Times are CPU seconds of the process (user + system, files read from the page cache), so the figures are per
core and hold on a busy machine. Prints files/s and MB/s (input bytes) per method and corpus part, then the
ratios the issue sets goals for (header de-identification >= 0.7x bare read+write and >= 3x dicognito).
Methods run interleaved in ``--rounds`` rounds and the best round counts. ``--profile`` prints the top of a
cProfile of the header path.

    .venv/bin/python bench/deid.py [--ct 300] [--us 20] [--frames 20] [--rounds 3] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import random
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from dicognito.anonymizer import Anonymizer
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from deidentify import (
    CLINICAL_SHARING,
    Keys,
    KnownIdentifiers,
    Profile,
    RapidOcrDetector,
    Subject,
    deidentify,
    make_pseudonym,
    verify,
)
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_patient, make_study

FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
KEYS = Keys(uid_key=b"bench-uid-key-0123456789abcdef")
PSEUDONYM_KEY = b"bench-pseudonym-key-0123456789"
HEADER_ONLY = Profile(
    name="clinical-sharing-header-only",
    options=CLINICAL_SHARING.options,
    description="clinical-sharing without Clean Pixel Data",
)


@dataclass(frozen=True)
class Item:
    path: Path
    size: int
    patient: SyntheticPatient
    part: str  # "CT" or "US"


def burn_in(frames: np.ndarray, patient: SyntheticPatient, study_date: str) -> None:
    """Draw the patient's identifiers into every frame, as an ultrasound console does."""
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont
    if FONT.exists():
        font = ImageFont.truetype(str(FONT), 18)
        lines = [patient.name_zh, patient.national_id, patient.name_pinyin.replace("^", " "), study_date]
    else:  # no CJK font: ASCII lines only
        font = ImageFont.load_default()
        lines = [patient.national_id, patient.name_pinyin.replace("^", " "), study_date]
    for index in range(frames.shape[0]):
        picture = Image.fromarray(frames[index])
        pen = ImageDraw.Draw(picture)
        for row, line in enumerate(lines):
            pen.text((12, 10 + row * 26), line, fill=240, font=font)
        frames[index] = np.asarray(picture)


def build_corpus(root: Path, ct: int, us: int, frames: int) -> list[Item]:
    rng = random.Random(20240315)
    patients = [make_patient(rng) for _ in range(8)]
    items: list[Item] = []
    per_study = 100
    for start in range(0, ct, per_study):
        patient = patients[(start // per_study) % len(patients)]
        spec = StudySpec("CT", "CHEST", "胸部CT", instances=min(per_study, ct - start))
        for ds in make_study(patient, spec, patient_id=f"MRN-{patients.index(patient)}", seed=start):
            items.append(_save(root, ds, patient, "CT"))
    for index in range(us):
        patient = patients[index % len(patients)]
        spec = StudySpec("US", "ABDOMEN", "腹部超声", instances=1, rows=480, columns=640, frames=frames)
        for ds in make_study(patient, spec, patient_id=f"MRN-{patients.index(patient)}", seed=10_000 + index):
            stack = np.frombuffer(ds.PixelData, dtype=np.uint8).reshape(frames, 480, 640).copy()
            burn_in(stack, patient, f"{ds.StudyDate[:4]}-{ds.StudyDate[4:6]}-{ds.StudyDate[6:]}")
            ds.PixelData = stack.tobytes()
            del ds.BurnedInAnnotation  # as many consoles do: the flag is absent
            items.append(_save(root, ds, patient, "US"))
    return items


def _save(root: Path, ds: Dataset, patient: SyntheticPatient, part: str) -> Item:
    path = root / f"{part}-{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return Item(path, path.stat().st_size, patient, part)


def subject(item: Item) -> Subject:
    patient = item.patient
    known = KnownIdentifiers(
        names=(patient.name_zh, patient.name_pinyin),
        ids=(patient.national_id, patient.health_card),
        phones=(patient.phone,),
    )
    return Subject(pseudonym=make_pseudonym(patient.national_id, PSEUDONYM_KEY), known=known, person_ref="bench")


def write(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, ds, enforce_file_format=True)
    return buffer.getvalue()


def bare(item: Item) -> None:
    write(pydicom.dcmread(item.path))


def with_dicognito(anonymizer: Anonymizer) -> Callable[[Item], None]:
    def run(item: Item) -> None:
        ds = pydicom.dcmread(item.path)
        anonymizer.anonymize(ds)
        write(ds)

    return run


def with_deidentify(profile: Profile, detector: RapidOcrDetector | None, check: bool) -> Callable[[Item], None]:
    def run(item: Item) -> None:
        ds = pydicom.dcmread(item.path)
        result = deidentify(ds, profile=profile, keys=KEYS, subject=subject(item), text_detector=detector)
        data = write(result.dataset)
        if check and verify(data, result.known):
            raise SystemExit(f"residue found in {item.path.name}")

    return run


def timed(run: Callable[[Item], None], items: list[Item]) -> float:
    """CPU seconds of this process (user + system): per-core cost, insensitive to other load on the machine."""
    started = time.process_time()
    for item in items:
        run(item)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ct", type=int, default=300, help="CT 512x512 slices (default 300)")
    parser.add_argument("--us", type=int, default=20, help="multi-frame US objects with burned-in text (default 20)")
    parser.add_argument("--frames", type=int, default=20, help="frames per US object (default 20)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds, best counts (default 3; OCR: 1)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of the header de-id path")
    args = parser.parse_args()
    warnings.simplefilter("ignore")  # dicognito and pydicom warn about synthetic values

    with tempfile.TemporaryDirectory(prefix="bench-deid-") as directory:
        started = time.perf_counter()
        items = build_corpus(Path(directory), args.ct, args.us, args.frames)
        print(
            f"corpus: {args.ct} CT + {args.us} US x {args.frames} frames with burned-in text, built in "
            f"{time.perf_counter() - started:.1f} s"
        )
        parts = {"CT": [i for i in items if i.part == "CT"], "US": [i for i in items if i.part == "US"], "all": items}
        detector = RapidOcrDetector(threads=1)
        started = time.perf_counter()
        detector.detect(np.zeros((64, 64, 3), dtype=np.uint8))
        print(f"OCR engine load (once per process, not timed below): {time.perf_counter() - started:.2f} s")
        for item in items[:3]:  # warm caches (profile rules, scrubber patterns, pydicom dictionaries)
            with_deidentify(HEADER_ONLY, None, True)(item)
            bare(item)

        methods: list[tuple[str, Callable[[Item], None]]] = [
            ("bare read+write", bare),
            ("dicognito", with_dicognito(Anonymizer(seed="bench"))),
            ("deid header", with_deidentify(HEADER_ONLY, None, False)),
            ("deid header+verify", with_deidentify(HEADER_ONLY, None, True)),
            ("deid with OCR", with_deidentify(CLINICAL_SHARING, detector, False)),
        ]
        seconds: dict[tuple[str, str], float] = {}
        for round_ in range(args.rounds):  # rounds interleave the methods; the best round counts (less noise)
            for name, run in methods:
                if name == "deid with OCR" and round_:
                    continue  # seconds per object: one round is enough
                for part in ("CT", "US"):
                    if parts[part]:
                        elapsed = timed(run, parts[part])
                        seconds[name, part] = min(elapsed, seconds.get((name, part), elapsed))
                    else:
                        seconds[name, part] = 0.0
        for name, _ in methods:
            seconds[name, "all"] = seconds[name, "CT"] + seconds[name, "US"]

        print()
        print(f"{'method':<20} {'part':<4} {'files':>6} {'MB':>8} {'CPU s':>8} {'files/s':>9} {'MB/s':>8}")
        for name, _ in methods:
            for part in ("CT", "US", "all"):
                chosen = parts[part]
                if not chosen:
                    continue
                megabytes = sum(i.size for i in chosen) / 1e6
                elapsed = seconds[name, part]
                print(
                    f"{name:<20} {part:<4} {len(chosen):>6} {megabytes:>8.1f} {elapsed:>8.2f}"
                    f" {len(chosen) / elapsed:>9.1f} {megabytes / elapsed:>8.1f}"
                )

        def ratio(a: str, b: str, part: str = "all") -> float:
            return seconds[b, part] / seconds[a, part]

        print()
        print("ratios (throughput, same files; > 1 means the first is faster)")
        print(f"  deid header        / bare read+write : {ratio('deid header', 'bare read+write'):.2f}x  (goal >= 0.7)")
        print(f"  deid header+verify / bare read+write : {ratio('deid header+verify', 'bare read+write'):.2f}x")
        print(f"  deid header        / dicognito       : {ratio('deid header', 'dicognito'):.2f}x  (goal >= 3)")
        print(f"  deid header+verify / dicognito       : {ratio('deid header+verify', 'dicognito'):.2f}x")
        if parts["US"]:
            print(f"  deid with OCR      / deid header (US): {ratio('deid with OCR', 'deid header', 'US'):.3f}x")
            per_frame = (seconds["deid with OCR", "US"] - seconds["deid header", "US"]) / len(parts["US"])
            print(f"  Clean Pixel Data cost per US object ({args.frames} frames, 3 searched): {per_frame:.2f} s")

        if args.profile:
            profiler = cProfile.Profile()
            run = with_deidentify(HEADER_ONLY, None, True)
            profiler.enable()
            for item in parts["CT"]:
                run(item)
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)


if __name__ == "__main__":
    main()
