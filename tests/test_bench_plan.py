"""The ingest-vs-Orthanc benchmark's plan: flags, the quick corpus and its three modalities (no servers started)."""

from __future__ import annotations

import random
from pathlib import Path

import pydicom
import pytest

from bench import scale
from bench.ingest import build_corpus
from bench.ingest_vs_orthanc import build_multiframe, parse_args
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


def test_memory_check_can_run_alone_and_needs_something_to_run() -> None:
    args = parse_args(["--targets", "", "--memory-gb", "2"])
    assert args.targets == [] and args.memory_gb == 2.0 and args.memory_frames == 200
    with pytest.raises(SystemExit):
        parse_args(["--targets", ""])


def test_multiframe_objects_for_the_memory_check_are_distinct_instances(tmp_path: Path) -> None:
    files = build_multiframe(tmp_path, 0.005, 4, make_patient(random.Random(1)))
    headers = [pydicom.dcmread(path, stop_before_pixels=True) for path in files]
    assert len(files) >= 2 and sum(p.stat().st_size for p in files) >= 0.005e9
    assert len({ds.SOPInstanceUID for ds in headers}) == len(files)
    assert {(ds.Modality, int(ds.NumberOfFrames)) for ds in headers} == {("US", 4)}


def test_scale_defaults_compare_one_and_two_processes_on_every_mix() -> None:
    args = scale.parse_args([])
    assert args.processes == [1, 2] and args.mixes == ["read", "mixed", "write"]
    quick = scale.parse_args(["--quick", "--processes", "1,2,4", "--mixes", "mixed"])
    assert quick.processes == [1, 2, 4] and quick.mixes == ["mixed"] and quick.operations == 60


@pytest.mark.parametrize(
    "argv", [["--processes", "0"], ["--processes", "two"], ["--mixes", "read,delete"], ["--clients", "0"]]
)
def test_scale_refuses_bad_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        scale.parse_args(argv)


@pytest.mark.parametrize("mix", list(scale.MIXES))
def test_scale_plan_has_the_mix_proportions_and_enough_upload_batches(mix: str) -> None:
    kinds = scale.plan(mix, 200)
    stow, qido, wado = scale.MIXES[mix]
    total = stow + qido + wado
    assert len(kinds) == 200
    assert [kinds.count(kind) for kind in scale.KINDS] == [200 * w // total for w in (stow, qido, wado)]
    assert scale.plan(mix, 200) == kinds  # the same order every run
    assert scale.stow_batches_needed([mix], 200) == kinds.count("stow")
