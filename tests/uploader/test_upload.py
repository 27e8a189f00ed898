"""The uploader against the real service on a loopback port: folders, DICOMDIRs, resume, retries, reasons."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydicom.fileset import FileSet
from sqlalchemy import func, select

from auth.principals import Role
from imaging_cloud.accounts.service import create_account
from imaging_cloud.demo.synthetic import SyntheticPatient
from imaging_cloud.studies.models import Instance
from imaging_cloud.uploader.credentials import ClientCredentials, StaticToken
from imaging_cloud.uploader.errors import NotAuthorized
from imaging_cloud.uploader.retry import RetryPolicy
from imaging_cloud.uploader.upload import UploadOptions, upload
from tests.conftest import Hospital
from tests.uploader.conftest import LiveService, register_over_http, tiny_datasets, write_study

FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)


def _indexed(live: LiveService) -> int:
    with live.runtime.units.read_only() as session:
        return session.scalar(select(func.count()).select_from(Instance)) or 0


def _options(tmp_path: Path, **overrides: object) -> UploadOptions:
    values: dict[str, object] = {
        "batch_files": 3,
        "parallel": 2,
        "retry": FAST_RETRY,
        "state_path": tmp_path / "state" / "upload-state.jsonl",
    }
    values.update(overrides)
    return UploadOptions(**values)  # type: ignore[arg-type]


def test_upload_stores_a_nested_folder_and_skips_files_that_are_not_dicom(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-100")
    source = tmp_path / "export"
    write_study(source / "CT" / "series1", patient, "P-100", 4, seed=1)
    write_study(source / "CT" / "series2", patient, "P-100", 3, seed=2)
    (source / "README.TXT").write_text("viewer software on the CD", encoding="utf-8")
    (source / "CT" / "thumb.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(200))

    summary = upload(
        source, service_url=live.url, tokens=StaticToken(hospital_a.token), client=http, options=_options(tmp_path)
    )

    assert (summary.stored, summary.failed_count, summary.not_dicom, summary.exit_code) == (7, 0, 2, 0)
    assert live.gate.stow_requests == 3  # 7 files in batches of at most 3
    assert _indexed(live) == 7


def test_upload_follows_a_dicomdir_and_ignores_files_it_does_not_reference(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-200")
    fileset = FileSet()
    for ds in tiny_datasets(patient, "P-200", 3, seed=3):
        fileset.add(ds)
    media = tmp_path / "cdrom"
    fileset.write(media)
    write_study(media / "EXTRA", patient, "P-200", 2, seed=4)  # on the disc but not in the DICOMDIR

    summary = upload(
        media / "DICOMDIR",
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=_options(tmp_path),
    )

    assert (summary.stored, summary.failed_count, summary.exit_code) == (3, 0, 0)
    assert _indexed(live) == 3


def test_resume_skips_files_already_stored_and_sends_only_new_ones(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-300")
    source = tmp_path / "export"
    write_study(source, patient, "P-300", 5, seed=5)
    tokens = StaticToken(hospital_a.token)
    first = upload(source, service_url=live.url, tokens=tokens, client=http, options=_options(tmp_path, resume=True))
    requests_after_first = live.gate.stow_requests
    assert (first.stored, first.already_present) == (5, 0)

    again = upload(source, service_url=live.url, tokens=tokens, client=http, options=_options(tmp_path, resume=True))
    assert (again.stored, again.already_present, again.exit_code) == (0, 5, 0)
    assert live.gate.stow_requests == requests_after_first  # nothing was sent

    write_study(source / "later", patient, "P-300", 1, seed=6)
    third = upload(source, service_url=live.url, tokens=tokens, client=http, options=_options(tmp_path, resume=True))
    assert (third.stored, third.already_present) == (1, 5)
    assert live.gate.stow_requests == requests_after_first + 1


def test_resume_state_holds_no_file_names(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-310")
    source = tmp_path / "WANG_XIAODONG_P-310"
    write_study(source, patient, "P-310", 2, seed=7)
    options = _options(tmp_path, resume=True)
    upload(source, service_url=live.url, tokens=StaticToken(hospital_a.token), client=http, options=options)

    assert options.state_path is not None
    state = options.state_path.read_text(encoding="utf-8")
    assert state.count("\n") == 2
    assert "WANG" not in state and "P-310" not in state and ".dcm" not in state
    assert options.state_path.stat().st_mode & 0o077 == 0


def test_transient_503_answers_are_retried_until_the_batch_is_stored(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-400")
    source = tmp_path / "export"
    write_study(source, patient, "P-400", 2, seed=8)
    live.gate.fail_next = 2

    summary = upload(
        source,
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=_options(tmp_path, parallel=1),
    )

    assert (summary.stored, summary.failed_count, summary.exit_code) == (2, 0, 0)
    assert live.gate.refused == 2
    assert live.gate.stow_requests == 3


def test_a_503_that_persists_fails_the_batch_with_its_status_as_reason(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-410")
    source = tmp_path / "export"
    write_study(source, patient, "P-410", 2, seed=9)
    live.gate.fail_next = 100

    summary = upload(
        source,
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=_options(tmp_path, parallel=1),
    )

    assert {reason: len(paths) for reason, paths in summary.failed.items()} == {"http-503": 2}
    assert summary.exit_code == 1
    assert live.gate.stow_requests == FAST_RETRY.attempts


def test_failed_instances_carry_the_service_reason_and_the_others_are_stored(
    live: LiveService,
    http: httpx.Client,
    hospital_a: Hospital,
    patient: SyntheticPatient,
    other_patient: SyntheticPatient,
    tmp_path: Path,
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-500")
    source = tmp_path / "export"
    stored = write_study(source / "a", patient, "P-500", 2, seed=10)
    unknown = write_study(source / "b", other_patient, "NOBODY-1", 2, seed=11)  # never registered

    summary = upload(
        source,
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=_options(tmp_path, batch_files=10),
    )

    assert summary.stored == len(stored)
    assert dict(summary.failed) == {"unknown-patient": sorted(unknown)}
    assert summary.exit_code == 1
    assert live.gate.stow_requests == 1  # one batch, answered 202, mapped back to files by SOP Instance UID


def test_a_truncated_file_is_failed_alone_when_the_service_cannot_name_it(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    register_over_http(http, live, hospital_a, patient, "P-510")
    source = tmp_path / "export"
    good = write_study(source, patient, "P-510", 2, seed=12)
    broken = source / "zz-truncated.dcm"
    broken.write_bytes(good[0].read_bytes()[:140])  # a preamble and a few bytes: looks like DICOM, is not

    summary = upload(
        source,
        service_url=live.url,
        tokens=StaticToken(hospital_a.token),
        client=http,
        options=_options(tmp_path, batch_files=10),
    )

    assert summary.stored == 2
    assert list(summary.failed.values()) == [[broken]]
    assert summary.exit_code == 1


def test_client_credentials_are_exchanged_for_a_token(
    live: LiveService, http: httpx.Client, hospital_a: Hospital, patient: SyntheticPatient, tmp_path: Path
) -> None:
    with live.runtime.units() as uow:
        create_account(uow.session, "hosp-a-pacs", "pacs-secret-0123456789", Role.HOSPITAL, hospital_a.code)
    register_over_http(http, live, hospital_a, patient, "P-600")
    source = tmp_path / "export"
    write_study(source, patient, "P-600", 2, seed=13)
    tokens = ClientCredentials(http, live.url, "hosp-a-pacs", "pacs-secret-0123456789")

    summary = upload(source, service_url=live.url, tokens=tokens, client=http, options=_options(tmp_path))

    assert (summary.stored, summary.exit_code) == (2, 0)


def test_wrong_client_credentials_stop_the_run_before_anything_is_sent(
    live: LiveService, http: httpx.Client, patient: SyntheticPatient, tmp_path: Path
) -> None:
    source = tmp_path / "export"
    write_study(source, patient, "P-610", 1, seed=14)
    tokens = ClientCredentials(http, live.url, "nobody", "not-the-secret-123")

    with pytest.raises(NotAuthorized):
        upload(source, service_url=live.url, tokens=tokens, client=http, options=_options(tmp_path))
    assert live.gate.stow_requests == 0


def test_a_refused_token_aborts_the_run_with_exit_code_2(
    live: LiveService, http: httpx.Client, patient: SyntheticPatient, tmp_path: Path
) -> None:
    source = tmp_path / "export"
    write_study(source, patient, "P-620", 4, seed=15)

    summary = upload(
        source,
        service_url=live.url,
        tokens=StaticToken("not-a-token"),
        client=http,
        options=_options(tmp_path, batch_files=1, parallel=1),
    )

    assert summary.aborted is not None and "401" in summary.aborted
    assert summary.exit_code == 2
    assert summary.stored == 0 and summary.not_attempted == 4
