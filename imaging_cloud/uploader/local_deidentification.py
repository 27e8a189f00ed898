"""``imaging-cloud upload --deidentify-locally``: de-identify on the hospital's machine, so no identifier leaves it.

Before anything is sent, every file is read here and, per patient, the cloud is asked for a link token:

1. ``GET /patients/link-key`` once: the institution's key for naming cross-references blindly;
2. per ``(issuer, local patient id)``: ``POST /patients/link-tokens`` with ``HMAC(link key, issuer ‖ local id)``
   (:mod:`imaging_cloud.identity.link_handles`) — the local id itself never travels;
3. each file is de-identified with ``deidentify`` (the profile code the cloud runs) under the hospital-held UID
   key (UIDs stay stable across this hospital's re-uploads), with the link token as PatientID (the pseudonym key
   stays in the cloud), verified against the identifiers found in its own header and its original UIDs, and
   written to a private staging folder; a process pool uses every core when there are enough files;
4. the staged files are uploaded like the plain mode's (same batches, retries, resume state, progress, summary).

A JSON-lines manifest records, per file, only de-identified UIDs and the outcome. Reports take the same link
token and UID key through :mod:`imaging_cloud.uploader.report_upload`.
"""

from __future__ import annotations

import datetime as dt
import json
import multiprocessing
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pydicom
from pydicom.errors import InvalidDicomError

import deidentify
from imaging_cloud.identity.link_handles import link_handle
from imaging_cloud.uploader.credentials import TokenSource
from imaging_cloud.uploader.discovery import SourceFile
from imaging_cloud.uploader.errors import ServiceUnreachable
from imaging_cloud.uploader.retry import RetryPolicy
from imaging_cloud.uploader.service_requests import ServiceRequests

MIN_UID_KEY_BYTES = 32
#: Below this many files the pool's start-up (a fresh interpreter per worker) costs more than it saves.
POOL_THRESHOLD = 32
#: Long enough for a large study to de-identify and upload on a slow line; the token is unusable afterwards.
LINK_TOKEN_SECONDS = 4 * 3600
_HEADER_TAGS = ("PatientID", "IssuerOfPatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def read_uid_key(path: Path) -> bytes:
    """The hospital's UID key: the file's content without surrounding whitespace, at least 32 bytes."""
    key = path.read_bytes().strip()
    if len(key) < MIN_UID_KEY_BYTES:
        raise ValueError(
            f"the UID key file must hold at least {MIN_UID_KEY_BYTES} bytes (e.g. 32 random bytes, base64)"
        )
    return key


def default_manifest_path() -> Path:
    """``$XDG_STATE_HOME/imaging-cloud/upload-manifest.jsonl`` (``~/.local/state`` when unset)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "imaging-cloud" / "upload-manifest.jsonl"


@dataclass(frozen=True)
class LocalOptions:
    uid_key: bytes = field(repr=False)
    profile: deidentify.Profile = deidentify.CLINICAL_SHARING
    manifest_path: Path | None = None
    """None means ``default_manifest_path()``."""
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    pool_threshold: int = POOL_THRESHOLD

    def __post_init__(self) -> None:
        if deidentify.Option.RETAIN_LONGITUDINAL_MODIFIED_DATES in self.profile.options:
            raise ValueError(f"profile {self.profile.name} shifts dates per person: it needs the cloud's person key")


@dataclass(frozen=True)
class DeidentifiedUids:
    """The UIDs a file has after de-identification: the hospital's keyed map of the originals (PHI-free)."""

    study: str
    series: str
    sop: str


@dataclass(frozen=True)
class _Job:
    source: Path
    target: Path
    link_token: str
    uid_key: bytes
    profile: deidentify.Profile


def _deidentify_file(job: _Job) -> str | None:
    """De-identify and verify one file into ``job.target``; a failure slug (never a value) or None when done.

    Runs in a worker process: everything it needs is in ``job``.
    """
    try:
        dataset = pydicom.dcmread(job.source)
    except (InvalidDicomError, OSError, ValueError):
        return "local-unreadable"
    try:
        original_uids = deidentify.collect_uids(dataset)
        result = deidentify.deidentify(
            dataset,
            profile=job.profile,
            keys=deidentify.Keys(uid_key=job.uid_key),
            subject=deidentify.Subject(pseudonym=job.link_token),
        )
        with job.target.open("wb") as handle:
            pydicom.dcmwrite(handle, result.dataset, enforce_file_format=True)
        findings = deidentify.verify(job.target.read_bytes(), result.known, original_uids=original_uids)
    except deidentify.DeidentificationError as exc:
        job.target.unlink(missing_ok=True)
        return f"local-{exc.code}"
    if findings:
        job.target.unlink()
        return "local-residual-identifiers"
    return None


@dataclass
class Staged:
    """What the local step made of the files: pairs to send, files that failed here, and the manifest's UIDs."""

    pairs: list[tuple[SourceFile, SourceFile]] = field(default_factory=list)
    """(original file, de-identified copy to send)."""
    failed: list[tuple[SourceFile, str]] = field(default_factory=list)
    uids: dict[Path, DeidentifiedUids] = field(default_factory=dict)


class LocalDeidentification:
    """The local step of an upload run: link tokens, de-identification into staging, the manifest."""

    def __init__(
        self,
        options: LocalOptions,
        *,
        client: httpx.Client,
        service_url: str,
        tokens: TokenSource,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._options = options
        self._requests = ServiceRequests(client, service_url, tokens, retry)

    # -- the cloud: key and tokens ------------------------------------------------------------------------------

    def _link_key(self) -> bytes:
        response = self._requests.send("GET", "/patients/link-key")
        if response.status_code != 200:
            raise ServiceUnreachable(f"the link key endpoint answered HTTP {response.status_code}")
        return bytes.fromhex(str(response.json()["link_key"]))

    def _link_token(self, key: bytes, issuer: str, patient_id: str) -> str | None:
        """A token for the cross-reference, or None when this institution registered none for the id."""
        body: dict[str, object] = {
            "link_handle": link_handle(key, issuer, patient_id),
            "ttl_seconds": LINK_TOKEN_SECONDS,
        }
        response = self._requests.send("POST", "/patients/link-tokens", json=body)
        if response.status_code == 404:
            return None
        if response.status_code != 201:
            raise ServiceUnreachable(f"the link token endpoint answered HTTP {response.status_code}")
        return str(response.json()["link_token"])

    def link_token(self, issuer: str, patient_id: str) -> str | None:
        """A link token for one patient (a report upload), or None when the institution registered no such id."""
        return self._link_token(self._link_key(), issuer, patient_id)

    @property
    def uid_key(self) -> bytes:
        return self._options.uid_key

    @property
    def manifest_path(self) -> Path:
        return self._options.manifest_path or default_manifest_path()

    # -- the files ----------------------------------------------------------------------------------------------

    def _headers(self, files: Sequence[SourceFile], staged: Staged) -> dict[tuple[str, str], list[SourceFile]]:
        """Files grouped by (issuer, local patient id); the keyed UIDs of each file for the manifest."""
        groups: dict[tuple[str, str], list[SourceFile]] = {}
        for source in files:
            try:
                ds = pydicom.dcmread(source.path, stop_before_pixels=True, specific_tags=list(_HEADER_TAGS))
                values = [str(ds.get(tag, "") or "").strip() for tag in _HEADER_TAGS]
            except (InvalidDicomError, OSError, ValueError):
                staged.failed.append((source, "local-unreadable"))
                continue
            patient_id, issuer, study, series, sop = values
            if not (patient_id and study and series and sop):
                staged.failed.append((source, "local-missing-attribute"))
                continue
            key = self._options.uid_key
            staged.uids[source.path] = DeidentifiedUids(
                deidentify.remap_uid(study, key), deidentify.remap_uid(series, key), deidentify.remap_uid(sop, key)
            )
            groups.setdefault((issuer, patient_id), []).append(source)
        return groups

    @contextmanager
    def _executor(self, jobs: int) -> Iterator[Executor | None]:
        workers = min(self._options.workers, jobs)
        if jobs < self._options.pool_threshold or workers < 2:
            yield None
            return
        # spawn, not fork: the caller may run threads (an HTTP pool, a progress bar) that fork would copy mid-lock
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            yield pool

    @contextmanager
    def stage(self, files: Sequence[SourceFile]) -> Iterator[Staged]:
        """De-identify ``files`` into a private temporary folder, removed when the block ends."""
        staged = Staged()
        groups = self._headers(files, staged)
        with tempfile.TemporaryDirectory(prefix="imaging-cloud-deid-") as folder:
            jobs: list[tuple[SourceFile, _Job]] = []
            uid_key, profile = self._options.uid_key, self._options.profile
            key = self._link_key() if groups else b""
            for (issuer, patient_id), sources in groups.items():
                token = self._link_token(key, issuer, patient_id)
                if token is None:
                    staged.failed.extend((source, "xref-not-found") for source in sources)
                    continue
                for source in sources:
                    target = Path(folder) / f"{len(jobs):08d}.dcm"
                    jobs.append((source, _Job(source.path, target, token, uid_key, profile)))
            with self._executor(len(jobs)) as pool:
                outcomes = (
                    list(pool.map(_deidentify_file, [job for _, job in jobs], chunksize=8))
                    if pool is not None
                    else [_deidentify_file(job) for _, job in jobs]
                )
            for (source, job), failure in zip(jobs, outcomes, strict=True):
                if failure is None:
                    staged.pairs.append((source, SourceFile.of(job.target)))
                else:
                    staged.failed.append((source, failure))
            yield staged

    # -- the manifest -------------------------------------------------------------------------------------------

    def write_manifest(self, staged: Staged, outcomes: Sequence[tuple[SourceFile, str, str | None]]) -> Path:
        """Append one line per file: de-identified UIDs (when known), outcome, reason slug; no path, no local id."""
        path = self.manifest_path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        when = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        with path.open("a", encoding="utf-8") as manifest:
            for source, outcome, reason in outcomes:
                line: dict[str, str] = {"time": when, "outcome": outcome}
                uids = staged.uids.get(source.path)
                if uids is not None:
                    line.update(study=uids.study, series=uids.series, sop=uids.sop)
                if reason is not None:
                    line["reason"] = reason
                manifest.write(json.dumps(line) + "\n")
        return path
