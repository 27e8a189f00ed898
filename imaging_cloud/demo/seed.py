"""``imaging-cloud demo``: a data dir with institutions, accounts, synthetic patients and studies, ready to serve.

Everything goes in through the front door: the app is served on a loopback port, each demo hospital signs in with
its client credentials (``POST /auth/token``), registers its patients' cross-references (``POST /patients/xrefs``)
and uploads its studies with the hospital uploader over STOW-RS and a text report per study (``POST /reports``) —
the same path a real hospital takes, including de-identification before storage. Idempotent: institutions and
accounts are created once, cross-references and reports are idempotent, UIDs are deterministic (a re-upload
stores nothing new) and the uploader's resume state skips what was stored already.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import shutil
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from pydicom.uid import UID, generate_uid
from sqlalchemy import func, select

from auth.passwords import hash_secret, verify_secret
from auth.principals import Role
from imaging_cloud.accounts.models import Account
from imaging_cloud.accounts.service import create_account, create_institution
from imaging_cloud.app import create_app
from imaging_cloud.db.migrate import upgrade
from imaging_cloud.demo.accounts import INSTITUTIONS, DemoAccount, DemoInstitution, load_or_create_accounts
from imaging_cloud.demo.consent import ConsentExample, ConsentSeedFailed, seed_consent
from imaging_cloud.demo.loopback import serve_on_loopback
from imaging_cloud.demo.synthetic import StudySpec, SyntheticPatient, make_patient, make_study, to_bytes
from imaging_cloud.identity.models import Institution
from imaging_cloud.runtime import Runtime
from imaging_cloud.settings import Settings
from imaging_cloud.studies.models import Instance
from imaging_cloud.uploader.credentials import ClientCredentials
from imaging_cloud.uploader.progress import UploadProgress
from imaging_cloud.uploader.upload import UploadOptions, UploadSummary, upload

logger = logging.getLogger(__name__)

HOSPITAL_FILES_DIR = "demo-hospital-files"
UPLOAD_STATE_FILE = "demo-upload-state.jsonl"
#: Root of the deterministic UIDs of the synthetic source objects (pydicom's prefix for generated UIDs).
_UID_NAMESPACE = "imaging-cloud-demo"
_PATIENT_SEED = 20260101


class DemoRefused(Exception):
    """The demo does not run in production mode (it would plant demo accounts in a real archive)."""


class DemoFailed(Exception):
    """Seeding did not complete; the message names the step and reason codes only."""


@dataclass(frozen=True)
class DemoScale:
    """Sizes of the synthetic studies: the demo uses real-looking 512×512 images, the tests tiny ones."""

    rows: int = 512
    ct_slices: int = 8
    mr_slices: int = 6
    us_frames: int = 10
    patients: int = 5


@dataclass(frozen=True)
class DemoStudy:
    key: str
    """A path-safe name without PHI, e.g. ``patient-2-mr``."""
    patient_index: int
    institution: DemoInstitution
    patient_id: str
    """The institution's local patient id (a cross-reference to the person)."""
    spec: StudySpec
    study_date: dt.date


@dataclass(frozen=True)
class SeedResult:
    accounts: list[DemoAccount]
    institutions: tuple[DemoInstitution, ...]
    patients: list[SyntheticPatient]
    studies: list[DemoStudy]
    uploads: dict[str, UploadSummary]
    """Institution code → what its upload did."""
    reports_created: int
    reports_present: int
    consent: list[ConsentExample] = field(default_factory=list)
    """The demo's grant and family link, described for the banner."""

    @property
    def instances_stored(self) -> int:
        return sum(s.stored for s in self.uploads.values())

    @property
    def instances_already_present(self) -> int:
        return sum(s.already_present for s in self.uploads.values())


def demo_patients(count: int) -> list[SyntheticPatient]:
    """``count`` distinct synthetic people (same ones in every data dir: they are invented)."""
    rng = random.Random(_PATIENT_SEED)  # noqa: S311 - reproducible invented people, not a secret
    patients: dict[str, SyntheticPatient] = {}
    while len(patients) < count:
        candidate = make_patient(rng)
        patients.setdefault(candidate.national_id, candidate)
    return list(patients.values())


REPEAT_EVERY = 3
"""Every third patient also has a repeat chest CT at the other hospital three weeks after the first: the
duplicate exams (about 30% of patients) the duplicate-exam hint exists to prevent."""
REPEAT_AFTER = dt.timedelta(days=21)


def _study_date(key: str) -> dt.date:
    """A deterministic date in 2025–2026 (the same in every data dir: the UIDs are deterministic too)."""
    return dt.date(2025, 1, 1) + dt.timedelta(days=zlib.crc32(key.encode()) % 600)


def demo_plan(scale: DemoScale) -> list[DemoStudy]:
    """Each patient: a CT at a home hospital and an MR, CR or US at another, so one person spans hospitals;
    every third patient also a repeat CT at the other hospital (a duplicate exam)."""
    size = scale.rows
    others = [
        ("mr", StudySpec("MR", "HEAD", "头颅MR平扫", scale.mr_slices, size, size)),
        ("cr", StudySpec("CR", "CHEST", "胸部正位片", 1, size, size)),
        ("us", StudySpec("US", "ABDOMEN", "腹部超声", 1, size, size, frames=scale.us_frames)),
    ]
    plan = []
    for index in range(scale.patients):
        home = INSTITUTIONS[index % len(INSTITUTIONS)]
        away = INSTITUTIONS[(index + 1) % len(INSTITUTIONS)]
        chest_ct = StudySpec("CT", "CHEST", "胸部CT平扫", scale.ct_slices, size, size)
        ct_key = f"patient-{index + 1}-ct"
        ct_date = _study_date(ct_key)
        plan.append(DemoStudy(ct_key, index, home, f"{home.code}{100001 + index}", chest_ct, ct_date))
        suffix, spec = others[index % len(others)]
        key = f"patient-{index + 1}-{suffix}"
        plan.append(DemoStudy(key, index, away, f"{away.code}{200001 + index}", spec, _study_date(key)))
        if index % REPEAT_EVERY == 0:
            repeat = f"patient-{index + 1}-ct-repeat"
            plan.append(
                DemoStudy(repeat, index, away, f"{away.code}{200001 + index}", chest_ct, ct_date + REPEAT_AFTER)
            )
    return plan


def _uid(*parts: str) -> UID:
    return generate_uid(entropy_srcs=[_UID_NAMESPACE, *parts])


def write_study_files(study: DemoStudy, patient: SyntheticPatient, folder: Path) -> list[Path]:
    """The study's DICOM files under ``folder/<institution>/<key>/``; written once, with deterministic UIDs."""
    target = folder / study.institution.code / study.key
    expected = study.spec.instances
    if target.is_dir() and len(list(target.glob("*.dcm"))) == expected:
        return sorted(target.glob("*.dcm"))
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    study_uid = _uid(study.key, "study")
    series_uid = _uid(study.key, "series")
    frame_of_reference = _uid(study.key, "frame-of-reference")
    datasets = make_study(
        patient,
        study.spec,
        patient_id=study.patient_id,
        institution=study.institution.name,
        seed=zlib.crc32(study.key.encode()),
        study_uid=study_uid,
        study_date=study.study_date,
    )
    for number, ds in enumerate(datasets, start=1):
        sop_uid = _uid(study.key, "instance", str(number))
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.SeriesInstanceUID = series_uid
        ds.FrameOfReferenceUID = frame_of_reference
        (partial / f"{number:04d}.dcm").write_bytes(to_bytes(ds))
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return sorted(target.glob("*.dcm"))


def _ensure_accounts(runtime: Runtime, accounts: list[DemoAccount]) -> None:
    with runtime.units() as uow:
        session = uow.session
        for institution in INSTITUTIONS:
            if session.scalar(select(Institution).where(Institution.code == institution.code)) is None:
                create_institution(session, institution.code, institution.name)
        for demo in accounts:
            existing = session.scalar(select(Account).where(Account.username == demo.username))
            if existing is None:
                create_account(
                    session, demo.username, demo.password, Role(demo.role), demo.institution, demo.display_name
                )
            elif not verify_secret(existing.secret_hash, demo.password):
                existing.secret_hash = hash_secret(demo.password)  # demo-accounts.json was replaced


def _register_xrefs(
    client: httpx.Client,
    base_url: str,
    tokens: ClientCredentials,
    studies: list[DemoStudy],
    patients: list[SyntheticPatient],
) -> None:
    done: set[str] = set()
    for study in studies:
        if study.patient_id in done:
            continue
        patient = patients[study.patient_index]
        response = client.post(
            f"{base_url}/patients/xrefs",
            headers={"Authorization": f"Bearer {tokens.bearer()}"},
            json={
                "patient_id": study.patient_id,
                "issuer": "",
                "national_id": patient.national_id,
                "health_card": patient.health_card,
                "name": patient.name_zh,
                "sex": patient.sex,
            },
        )
        if response.status_code not in (200, 201):
            raise DemoFailed(f"registering a cross-reference failed: HTTP {response.status_code}")
        done.add(study.patient_id)


_FINDINGS = {
    "CT": ("双肺纹理清晰，未见明确结节及实变影。纵隔居中，心影不大。", "胸部CT平扫未见明显异常。"),
    "MR": ("脑实质信号均匀，脑室系统未见扩大，中线结构居中。", "头颅MR平扫未见明显异常。"),
    "CR": ("两肺野清晰，肋膈角锐利，心影大小形态正常。", "胸部正位片未见明显异常。"),
    "US": ("肝脏大小形态正常，实质回声均匀；胆囊壁光滑；脾、胰未见异常。", "腹部超声未见明显异常。"),
}


def report_text(study: DemoStudy, patient: SyntheticPatient) -> str:
    """A synthetic text report that names the patient the way real ones do (the service must scrub it)."""
    findings, impression = _FINDINGS[study.spec.modality]
    return (
        f"{study.institution.name} 影像诊断报告\n"
        f"姓名：{patient.name_zh}  性别：{'男' if patient.sex == 'M' else '女'}  病历号：{study.patient_id}\n"
        f"检查项目：{study.spec.description}\n"
        f"检查所见：{findings}\n"
        f"诊断意见：{impression}\n"
        "报告医生：演示医生（合成数据）\n"
    )


def _upload_reports(
    client: httpx.Client,
    base_url: str,
    tokens: ClientCredentials,
    studies: list[DemoStudy],
    patients: list[SyntheticPatient],
) -> tuple[int, int]:
    """POST /reports, one text report per study; (created, already present)."""
    created = present = 0
    for study in studies:
        text = report_text(study, patients[study.patient_index])
        response = client.post(
            f"{base_url}/reports",
            headers={"Authorization": f"Bearer {tokens.bearer()}"},
            data={
                "study_instance_uid": _uid(study.key, "study"),
                "report_id": f"RPT-{study.key}",
                "title": f"{study.spec.description}报告",
                "status": "final",
            },
            files={"file": ("report.txt", text.encode("utf-8"), "text/plain; charset=utf-8")},
        )
        if response.status_code == 201:
            created += 1
        elif response.status_code == 200:
            present += 1
        else:
            raise DemoFailed(f"uploading a report failed: HTTP {response.status_code} ({_error_code(response)})")
    return created, present


def _seed_consent(
    client: httpx.Client,
    base_url: str,
    patients: list[SyntheticPatient],
    accounts: list[DemoAccount],
    plan: list[DemoStudy],
) -> list[ConsentExample]:
    """Patient 1 grants the doctor of a hospital holding none of their studies; patient 2 becomes family proxy."""
    holding = {study.institution.code for study in plan if study.patient_index == 0}
    doctor = next(
        (a for a in accounts if a.role == Role.DOCTOR and a.institution and a.institution not in holding), None
    )
    if doctor is None or doctor.institution is None:
        return []
    try:
        return seed_consent(client, base_url, patients, doctor.username, doctor.institution)
    except ConsentSeedFailed as exc:
        raise DemoFailed(str(exc)) from None


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return "no error code"
    return str(body.get("code", "no error code")) if isinstance(body, dict) else "no error code"


def _instances_indexed(runtime: Runtime) -> int:
    with runtime.units.read_only() as session:
        return session.scalar(select(func.count()).select_from(Instance)) or 0


def seed_demo(
    settings: Settings, *, scale: DemoScale | None = None, parallel: int = 2, progress: UploadProgress | None = None
) -> SeedResult:
    """Create (or complete) the demo in ``settings.data_dir``; safe to run again."""
    if settings.environment == "production":
        raise DemoRefused("the demo refuses to run in production mode")
    scale = scale or DemoScale()
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    runtime = Runtime.build(settings)  # development mode creates the JWT signing key under data_dir
    try:
        upgrade(runtime.engine)
        accounts = load_or_create_accounts(data_dir)
        _ensure_accounts(runtime, accounts)
        patients = demo_patients(scale.patients)
        plan = demo_plan(scale)
        files_root = data_dir / HOSPITAL_FILES_DIR
        for study in plan:
            write_study_files(study, patients[study.patient_index], files_root)
        state_path = data_dir / UPLOAD_STATE_FILE
        if _instances_indexed(runtime) == 0:
            state_path.unlink(missing_ok=True)  # a fresh index: nothing the old state remembers is stored
        uploads: dict[str, UploadSummary] = {}
        reports_created = reports_present = 0
        with (
            serve_on_loopback(create_app(runtime=runtime)) as base_url,
            httpx.Client(timeout=httpx.Timeout(60.0, read=600.0)) as client,
        ):
            for institution in INSTITUTIONS:
                studies = [s for s in plan if s.institution == institution]
                if not studies:
                    continue
                pacs = next(a for a in accounts if a.role == Role.HOSPITAL and a.institution == institution.code)
                tokens = ClientCredentials(client, base_url, pacs.username, pacs.password)
                _register_xrefs(client, base_url, tokens, studies, patients)
                summary = upload(
                    files_root / institution.code,
                    service_url=base_url,
                    tokens=tokens,
                    client=client,
                    options=UploadOptions(
                        parallel=parallel, resume=True, state_path=state_path, state_scope="demo-loopback"
                    ),
                    progress=progress,
                )
                if summary.failed_count or summary.aborted:
                    reasons = ", ".join(sorted(summary.failed)) or summary.aborted
                    raise DemoFailed(f"uploading the demo studies failed: {reasons}")
                uploads[institution.code] = summary
                created, present = _upload_reports(client, base_url, tokens, studies, patients)
                reports_created, reports_present = reports_created + created, reports_present + present
            consent = _seed_consent(client, base_url, patients, accounts, plan)
    finally:
        runtime.engine.dispose()
    return SeedResult(
        accounts=accounts,
        institutions=INSTITUTIONS,
        patients=patients,
        studies=plan,
        uploads=uploads,
        reports_created=reports_created,
        reports_present=reports_present,
        consent=consent,
    )
