"""The ingest-vs-Orthanc benchmark's plan: flags, the quick corpus and its three modalities (no servers started)."""

from __future__ import annotations

import random
from pathlib import Path

import pydicom
import pytest

from bench.ingest import build_corpus
from bench.ingest_vs_orthanc import parse_args
from imaging_cloud.demo.synthetic import make_patient


def test_quick_mode_plans_a_small_corpus_and_all_three_targets() -> None:
    args = parse_args(["--quick", "--clients", "3"])
    assert (args.ct, args.us, args.cr, args.clients) == (60, 2, 2, 3)
    assert args.targets == ["embedded", "pg+s3", "orthanc"]


def test_an_unknown_target_is_refused() -> None:
    with pytest.raises(SystemExit):
        parse_args(["--targets", "embedded,dcm4chee"])


def test_corpus_holds_ct_us_and_cr(tmp_path: Path) -> None:
    patients = [make_patient(random.Random(1))]
    files = build_corpus(tmp_path, 1, 1, patients, cr=1)
    modalities = sorted(pydicom.dcmread(path, stop_before_pixels=True).Modality for path in files)
    assert modalities == ["CR", "CT", "US"]
